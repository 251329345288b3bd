/**
 * `@spillway/bridge-deadline/testing`: a fake Deadline Web Service with simulated workers
 * that really run commands, and a tiny Blender scene generator, for tests and demos.
 */
export {
  FakeDeadline,
  FakeDeadlineError,
  type FakeDeadlineOptions,
  type FakeWorkerSpec,
  type RenderRecord,
  type TaskCommandRecord,
} from './fake-deadline';
export { blenderSceneScript, hasBlender, makeBlenderScene, type BlenderSceneOptions } from './blender';
