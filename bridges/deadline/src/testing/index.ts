/**
 * `@spillway/bridge-deadline/testing`: a fake Deadline Web Service with simulated workers
 * that really run commands, and a tiny Blender scene generator, for tests and demos.
 */
import * as path from 'node:path';

export {
  FakeDeadline,
  FakeDeadlineError,
  type FakeDeadlineOptions,
  type FakeWorkerSpec,
  type RemoteTask,
  type RenderRecord,
  type TaskCommandRecord,
} from './fake-deadline';
export { blenderSceneScript, hasBlender, makeBlenderScene, type BlenderSceneOptions } from './blender';
export {
  DeadlineTestingWorker,
  repositoryFile,
  testingDeadlineCommandMain,
  testingWorkerMain,
  type DeadlineTestingWorkerOptions,
} from './worker';

/** The testing farm's `deadlinecommand` and `deadlineworker` folder: a test scale set's `DEADLINE_BIN`. */
export const DEADLINE_TESTING_BIN = path.resolve(__dirname, '../../testing-bin');
