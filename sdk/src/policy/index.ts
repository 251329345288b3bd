/**
 * The burst policy (pure), scenario files, the farm simulator, baselines and the
 * hindsight lower bound.
 */
export * from './burst-policy';
export * from './controllers';
export * from './lower-bound';
export * from './report';
export * from './scenario';
export { SeededRandom } from '../random';
export * from './simulator';
export * from './config';
export { greedyPlan } from './greedy';
export * from './online-floor';
export * from './explain';
