/**
 * `@spillway/bridge-opencue/testing`: a fake Cuebot and simulated RQD hosts that really run
 * commands, for tests and demos of OpenCue farms without OpenCue.
 */
import * as path from 'node:path';

export {
  EXIT_STATUS_DOWN_HOST,
  EXIT_STATUS_FAILED_KILL,
  EXIT_STATUS_SKIP_RETRY,
  FakeCuebot,
  type CompletionRecord,
  type FakeCuebotOptions,
  type FakeJobSpec,
  type FakeLayerSpec,
} from './fake-cuebot';
export {
  SimulatedRqdHost,
  parseRqdConf,
  runningInfo,
  testingRqdMain,
  type RqdConf,
  type SimulatedRqdHostOptions,
} from './rqd-host';
export {
  bookFrames,
  type BookableFrame,
  type BookableHost,
  type BookableSubscription,
  type Booking,
} from './booking';
export { buildBlenderScene, blenderAvailable, type BlenderSceneOptions } from './blender';

/** The testing farm's `rqd` executable's folder: put it on a test scale set's image `PATH`. */
export const OPENCUE_TESTING_BIN = path.resolve(__dirname, '../../testing-bin');
