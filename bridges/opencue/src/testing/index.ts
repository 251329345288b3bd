/**
 * `@spillway/bridge-opencue/testing`: a fake Cuebot and simulated RQD hosts that really run
 * commands, for tests and demos of OpenCue farms without OpenCue.
 */
export {
  FakeCuebot,
  type CompletionRecord,
  type FakeCuebotOptions,
  type FakeJobSpec,
  type FakeLayerSpec,
} from './fake-cuebot';
export { SimulatedRqdHost, runningInfo, type SimulatedRqdHostOptions } from './rqd-host';
export {
  bookFrames,
  type BookableFrame,
  type BookableHost,
  type BookableSubscription,
  type Booking,
} from './booking';
export { buildBlenderScene, blenderAvailable, type BlenderSceneOptions } from './blender';
