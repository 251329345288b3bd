/** The ARM-compatible local endpoint (Microsoft.Compute VM Scale Sets subset) over local processes. */
export {
  ArmEmulator,
  DEFAULT_USAGE_LIMITS,
  startArmEmulator,
  type ArmEmulatorOptions,
  type EmulatedInstance,
  type EmulatedScaleSet,
  type RecordedRequest,
  type ThrottleOptions,
  type UsageLimits,
} from './server';
export { generateLoopbackCertificate, type LoopbackCertificate } from './certificate';
export { InstanceProcess, type InstanceProcessSpec } from './process';
export { ImdsServer, type ImdsInstance, type ScheduledEvent } from './imds';
