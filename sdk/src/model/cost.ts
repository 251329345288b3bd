/** Node time in hours, by the nodes' priority. */
export interface NodeHours {
  readonly dedicated: number;
  readonly spot: number;
  /** On nodes whose priority the service never learnt (gone before it looked). */
  readonly unknown: number;
}

/** Spot evictions and the work they cost. */
export interface Evictions {
  /** Spot nodes evicted (a group, the report), or evicted under the job's frames (a job). */
  readonly nodes: number;
  /** Frame attempts that were running on an evicted node and had to start again. */
  readonly lostAttempts: number;
  /** Node-time of the lost work: each lost attempt's run time / its group's slots per node, in hours. */
  readonly lostNodeHours: number;
  /** What the lost attempts cost. */
  readonly lostCost: number;
}

/** What a capacity group cost over a window. */
export interface GroupCost {
  readonly capacityGroup: string;
  /** Node time held (allocated nodes, busy or idle). */
  readonly nodeHours: NodeHours;
  readonly evictions: Evictions;
  /** Node time x the group's prices. */
  readonly spend: number;
  /** Frames that succeeded in the group. */
  readonly cloudFrames: number;
  /** `spend / cloudFrames` (idle and lost time included); 0 without cloud frames. */
  readonly costPerCloudFrame: number;
}

/** What a job cost over a window. */
export interface JobCost {
  readonly jobId: string;
  readonly name: string;
  readonly source: string;
  readonly sourceJobId: string;
  readonly capacityGroup: string;
  /** Node time its frames' attempts used: run time / task slots per node. */
  readonly nodeHours: NodeHours;
  readonly evictions: Evictions;
  /** What its frames' attempts cost (run time x the slot price of the node). */
  readonly spend: number;
  readonly cloudFrames: number;
  readonly failedFrames: number;
  readonly recalledFrames: number;
  /** `spend / cloudFrames`; 0 without cloud frames. */
  readonly costPerCloudFrame: number;
}

/** What capacity and frames cost over a window, per group and per job. */
export interface CostReport {
  readonly since: Date;
  readonly until: Date;
  /** ISO 4217 currency of every figure. */
  readonly currency: string;
  readonly groups: readonly GroupCost[];
  /** Jobs with activity in the window. */
  readonly jobs: readonly JobCost[];
  readonly nodeHours: NodeHours;
  readonly evictions: Evictions;
  readonly spend: number;
  readonly cloudFrames: number;
  readonly costPerCloudFrame: number;
}
