/** The `spillway` command line. */
export { main } from './main';
export { type Command, UsageError } from './command';
