/** The Deadline 10 Web Service client and its record types. */
export * from './client';
export * from './errors';
export * from './types';
