/** Worker burst in the OpenCue bridge: the cloud RQD hosts of worker-burst groups drain, come back or leave. */
export { CloudWorkers, type CloudWorkersOptions } from './agent';
