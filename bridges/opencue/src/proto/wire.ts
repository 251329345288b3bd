/**
 * The OpenCue messages Spillway reads and writes, as `@grpc/proto-loader` presents them
 * (`keepCase`, enums as their names, 64-bit integers as numbers, defaults filled in). Field
 * names and units are OpenCue's: cores in `CoreDetail`, `RunFrame.num_cores` and
 * subscriptions are core units (100 per core); `Host.cores` is cores; memory is KB.
 */

/** OpenCue frame states (numbers on the wire: WAITING 0 ... EATEN 6, CHECKPOINT 7). */
export type FrameStateName =
  'WAITING' | 'SETUP' | 'RUNNING' | 'SUCCEEDED' | 'DEPEND' | 'DEAD' | 'EATEN' | 'CHECKPOINT';

/** A Cuebot job. */
export interface CueJob {
  id: string;
  state: 'PENDING' | 'FINISHED' | 'STARTUP' | 'SHUTDOWN' | 'POSTED';
  name: string;
  shot: string;
  show: string;
  user: string;
  facility: string;
  priority: number;
  min_cores: number;
  max_cores: number;
  is_paused: boolean;
  /** Epoch seconds. */
  start_time: number;
  stop_time: number;
  job_stats: CueJobStats | null;
}

/** Frame counts of a job. */
export interface CueJobStats {
  total_layers: number;
  total_frames: number;
  waiting_frames: number;
  running_frames: number;
  dead_frames: number;
  eaten_frames: number;
  depend_frames: number;
  succeeded_frames: number;
  pending_frames: number;
  avg_frame_sec: number;
  reserved_cores: number;
}

/** A layer of a job. */
export interface CueLayer {
  id: string;
  name: string;
  range: string;
  tags: string[];
  /** Cores (not core units). */
  min_cores: number;
  max_cores: number;
  is_threadable: boolean;
  /** KB. */
  min_memory: number;
  chunk_size: number;
  dispatch_order: number;
  type: 'PRE' | 'POST' | 'RENDER' | 'UTIL';
  services: string[];
  parent_id: string;
  timeout: number;
  command: string;
}

/** A frame of a layer. */
export interface CueFrame {
  id: string;
  name: string;
  layer_name: string;
  number: number;
  state: FrameStateName;
  retry_count: number;
  exit_status: number;
  dispatch_order: number;
  start_time: number;
  stop_time: number;
  max_rss: number;
  used_memory: number;
  reserved_memory: number;
  last_resource: string;
  total_core_time: number;
  submission_time: number;
}

/** Which frames a frame query selects. Cuebot needs `page >= 1` and `limit < 1000`. */
export interface CueFrameSearchCriteria {
  ids?: string[];
  frames?: string[];
  layers?: string[];
  states?: { frame_states: FrameStateName[] } | null;
  frame_range?: string;
  page?: number;
  limit?: number;
  max_results?: number;
  offset?: number;
  include_finished?: boolean;
}

/** Which jobs a job query selects. */
export interface CueJobSearchCriteria {
  ids?: string[];
  jobs?: string[];
  regex?: string[];
  substr?: string[];
  users?: string[];
  shots?: string[];
  shows?: string[];
  include_finished?: boolean;
}

/** Hardware state of a host. */
export type HardwareStateName = 'UP' | 'DOWN' | 'REBOOTING' | 'REBOOT_WHEN_IDLE' | 'REPAIR';

/** A render host as Cuebot shows it (`cores` in cores, memory in KB). */
export interface CueHost {
  id: string;
  name: string;
  alloc_name: string;
  nimby_enabled: boolean;
  cores: number;
  idle_cores: number;
  memory: number;
  idle_memory: number;
  total_memory: number;
  free_memory: number;
  boot_time: number;
  ping_time: number;
  os: string;
  tags: string[];
  state: HardwareStateName;
  lock_state: 'OPEN' | 'LOCKED' | 'NIMBY_LOCKED';
  thread_mode: 'AUTO' | 'ALL' | 'VARIABLE';
}

/** A proc: a frame booked on a host (`dispatch_time` and `bookedTime` in epoch seconds). */
export interface CueProc {
  id: string;
  name: string;
  show_name: string;
  job_name: string;
  frame_name: string;
  group_name: string;
  ping_time: number;
  bookedTime: number;
  dispatch_time: number;
  reserved_cores: number;
}

/** A facility. */
export interface CueFacility {
  id: string;
  name: string;
}

/** An allocation: a named pool of hosts in a facility, `facility.name`. */
export interface CueAllocation {
  id: string;
  name: string;
  tag: string;
  facility: string;
  billable: boolean;
  stats: CueAllocationStats | null;
}

/** Core counts of an allocation (cores). */
export interface CueAllocationStats {
  cores: number;
  available_cores: number;
  idle_cores: number;
  running_cores: number;
  locked_cores: number;
  hosts: number;
  locked_hosts: number;
  down_hosts: number;
}

/** A show's subscription to an allocation; `size`, `burst`, `reserved_cores` in core units. */
export interface CueSubscription {
  id: string;
  name: string;
  show_name: string;
  facility: string;
  allocation_name: string;
  size: number;
  burst: number;
  reserved_cores: number;
  reserved_gpus: number;
}

/** A show. */
export interface CueShow {
  id: string;
  name: string;
  default_min_cores: number;
  default_max_cores: number;
  booking_enabled: boolean;
  dispatch_enabled: boolean;
  active: boolean;
}

/** Core counts a host reports, in core units. */
export interface CoreDetail {
  total_cores: number;
  idle_cores: number;
  locked_cores: number;
  booked_cores: number;
}

/** What a host says about itself (memory in KB; cores = num_procs x cores_per_proc units). */
export interface RenderHost {
  name: string;
  nimby_enabled: boolean;
  nimby_locked: boolean;
  facility: string;
  num_procs: number;
  cores_per_proc: number;
  total_swap: number;
  total_mem: number;
  total_mcp: number;
  free_swap: number;
  free_mem: number;
  free_mcp: number;
  load: number;
  boot_time: number;
  tags: string[];
  state: HardwareStateName;
  attributes: Record<string, string>;
  num_gpus: number;
  free_gpu_mem: number;
  total_gpu_mem: number;
}

/** A frame running on a host (`num_cores` in core units, memory in KB, times epoch ms). */
export interface RunningFrameInfo {
  resource_id: string;
  job_id: string;
  job_name: string;
  frame_id: string;
  frame_name: string;
  layer_id: string;
  num_cores: number;
  start_time: number;
  max_rss: number;
  rss: number;
  max_vsize: number;
  vsize: number;
  attributes: Record<string, string>;
  llu_time: number;
  num_gpus: number;
}

/** A host's periodic report. */
export interface HostReport {
  host: RenderHost | null;
  frames: RunningFrameInfo[];
  core_info: CoreDetail | null;
}

/** A host's start-up report. */
export interface BootReport {
  host: RenderHost | null;
  core_info: CoreDetail | null;
}

/** A finished frame's report. */
export interface FrameCompleteReport {
  host: RenderHost | null;
  frame: RunningFrameInfo | null;
  exit_status: number;
  exit_signal: number;
  /** Seconds. */
  run_time: number;
}

/** A frame Cuebot launches on a host, its command already substituted. */
export interface RunFrame {
  resource_id: string;
  job_id: string;
  job_name: string;
  frame_id: string;
  frame_name: string;
  layer_id: string;
  command: string;
  user_name: string;
  log_dir: string;
  show: string;
  shot: string;
  frame_temp_dir: string;
  start_time: number;
  uid?: number;
  num_cores: number;
  gid: number;
  ignore_nimby: boolean;
  environment: Record<string, string>;
  attributes: Record<string, string>;
  num_gpus: number;
  os: string;
  soft_memory_limit: number;
  hard_memory_limit: number;
}
