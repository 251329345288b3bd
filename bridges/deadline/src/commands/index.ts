/** Render commands from Deadline plugins, and path mapping. */
export * from './build';
export * from './paths';
