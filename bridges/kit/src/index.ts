/**
 * `@spillway/bridge-kit`: what every Spillway bridge needs, so a bridge keeps only what is
 * specific to its render manager.
 *
 * | piece | module |
 * |---|---|
 * | durable, versioned JSON state; default state folder under the data directory | `state` |
 * | frame-event follower (cursor persisted, only passing faults retried) | `follower` |
 * | outputs back: fetch → verify → place atomically, nothing left in the folder | `outputs` |
 * | a job's inputs into the AssetService, once per job | `assets` |
 * | the deadline/turnaround rule | `turnaround` |
 * | renderer profiles (command, output naming, scene references) | `profiles` |
 * | problems logged once per episode | `episodes` |
 * | the command skeleton (commander, config file, exit codes, signals) | `cli` |
 * | path mapping of one path, or of every path in a command line | `paths` |
 * | sleep, backoff, "is this a passing fault" | `retry` |
 * | the farm report, cloud workers apart | `report` |
 * @packageDocumentation
 */
export * from './state';
export * from './follower';
export * from './outputs';
export * from './assets';
export * from './turnaround';
export * from './profiles';
export * from './episodes';
export * from './cli';
export * from './retry';
export * from './paths';
export * from './report';
