/** The bridge (offload mode): configuration, decisions, state, placement and the loop. */
export * from './bridge';
export * from './config';
export * from './placement';
export * from './selection';
export * from './state';
