import * as fs from 'node:fs';
import type {
  CapacityBackend,
  CapacityEvent,
  ComputeNode,
  GroupSpec,
  GroupStatus,
} from '../../compute/backend';
import { scaleSetSpecFromWire } from '../../compute/scaleset/wire';
import { writeFileAtomic } from '../../state/atomic-file';
import { FailedPreconditionError, NotFoundError, ValidationError } from '../../errors';
import { CapacityGroupSpec } from '../../gen/spillway/v1/capacity';
import { BurstMode } from '../../gen/spillway/v1/common';
import type { Logger } from '../../logging';

/** The backends capacity groups can live on, by burst mode. */
export interface CapacityBackends {
  /** Frame offload: Azure Batch or the local engine. */
  readonly offload: CapacityBackend;
  /** Worker burst: VM Scale Sets. @default none (worker-burst groups are refused) */
  readonly workerBurst?: CapacityBackend;
}

/** A group's stored spec with its live status. */
export interface CapacityGroupView {
  readonly spec: CapacityGroupSpec;
  readonly status: GroupStatus | undefined;
  /** What its allocated nodes cost per hour now. */
  readonly costPerHour: number;
}

/** A capacity event with its place in the log. */
export interface SequencedCapacityEvent extends CapacityEvent {
  readonly seq: number;
}

const NAME = /^[a-z][a-z0-9-]{0,63}$/;

/**
 * The studio's capacity groups: their specs (kept in `groups.json`, written atomically) and
 * their live state from the backend that serves each burst mode. One set of groups for
 * every bridge of the studio.
 */
export class CapacityManager {
  private readonly specs = new Map<string, CapacityGroupSpec>();
  private readonly events: SequencedCapacityEvent[] = [];
  private readonly listeners = new Set<() => void>();
  private readonly unsubscribes: (() => void)[] = [];

  constructor(
    private readonly backends: CapacityBackends,
    private readonly file: string,
    private readonly logger: Logger,
  ) {
    if (fs.existsSync(file)) {
      const stored = JSON.parse(fs.readFileSync(file, 'utf8')) as unknown[];
      for (const json of stored) {
        const spec = CapacityGroupSpec.fromJSON(json);
        this.specs.set(spec.name, spec);
      }
    }
    for (const backend of [backends.offload, backends.workerBurst]) {
      if (backend) this.unsubscribes.push(backend.onCapacityEvent((e) => this.record(e)));
    }
  }

  private record(event: CapacityEvent): void {
    this.events.push({ ...event, seq: this.events.length + 1 });
    if (event.type === 'quotaReached' || event.type === 'resizeFailed' || event.type === 'nodeFailed') {
      this.logger.warn('capacity event', {
        type: event.type,
        group: event.group,
        node: event.nodeId,
        code: event.error?.code,
      });
    }
    for (const l of this.listeners) l();
  }

  private backendFor(spec: CapacityGroupSpec): CapacityBackend {
    if (spec.mode === BurstMode.BURST_MODE_WORKER_BURST) {
      if (!this.backends.workerBurst) {
        throw new FailedPreconditionError(
          `capacity group ${JSON.stringify(spec.name)} is worker burst, but no scale-set backend is configured`,
        );
      }
      return this.backends.workerBurst;
    }
    return this.backends.offload;
  }

  /** Validates a spec before anything is stored or created. */
  static validate(spec: CapacityGroupSpec): void {
    if (!NAME.test(spec.name)) {
      throw new ValidationError(
        'spec.name',
        spec.name,
        'must be 1-64 characters of a-z 0-9 -, starting with a letter',
      );
    }
    if (spec.mode === BurstMode.BURST_MODE_UNSPECIFIED) {
      throw new ValidationError(
        'spec.mode',
        'BURST_MODE_UNSPECIFIED',
        'must be FRAME_OFFLOAD or WORKER_BURST',
      );
    }
    if (spec.maxDedicatedNodes + spec.maxSpotNodes === 0) {
      throw new ValidationError('spec.max_dedicated_nodes', 0, 'and max_spot_nodes cannot both be 0');
    }
    for (const [field, v] of [
      ['spec.cost.dedicated_per_node_hour', spec.cost?.dedicatedPerNodeHour ?? 0],
      ['spec.cost.spot_per_node_hour', spec.cost?.spotPerNodeHour ?? 0],
    ] as const) {
      if (!(v >= 0) || !Number.isFinite(v)) throw new ValidationError(field, v, 'must be a price >= 0');
    }
  }

  /** Creates the group or reconciles it towards the spec. */
  async ensure(
    spec: CapacityGroupSpec,
    options: { abortSignal?: AbortSignal } = {},
  ): Promise<{ group: CapacityGroupView; created: boolean }> {
    CapacityManager.validate(spec);
    const existing = this.specs.get(spec.name);
    if (existing && (existing.mode !== spec.mode || existing.vmSize !== spec.vmSize)) {
      throw new FailedPreconditionError(
        `capacity group ${JSON.stringify(spec.name)} exists with another mode or VM size; delete it first to change those`,
      );
    }
    const status = await this.backendFor(spec).ensureGroup(toBackendSpec(spec), options);
    this.specs.set(spec.name, spec);
    this.save();
    return { group: this.view(spec, status), created: !existing };
  }

  /**
   * Brings every stored group back onto its backend (after a restart the embedded engine is
   * new; Batch and Scale Sets answer an ensure of an existing group as a no-op). A group
   * whose backend refuses is logged and kept, not dropped.
   */
  async reconcileAll(options: { abortSignal?: AbortSignal } = {}): Promise<void> {
    for (const spec of this.specs.values()) {
      try {
        await this.backendFor(spec).ensureGroup(toBackendSpec(spec), options);
      } catch (err) {
        this.logger.error('capacity group could not be restored', {
          group: spec.name,
          error: err instanceof Error ? err.message : String(err),
        });
      }
    }
  }

  /** A group by name. */
  async get(name: string, options: { abortSignal?: AbortSignal } = {}): Promise<CapacityGroupView> {
    const spec = this.specs.get(name);
    if (!spec) throw new NotFoundError(`capacity group ${JSON.stringify(name)} does not exist`);
    return this.view(spec, await this.backendFor(spec).getGroup(name, options));
  }

  /** Every group, by name. */
  async list(options: { abortSignal?: AbortSignal } = {}): Promise<CapacityGroupView[]> {
    const names = [...this.specs.keys()].sort();
    return Promise.all(names.map((n) => this.get(n, options)));
  }

  /** The spec of a group, if any (for the policy). */
  specOf(name: string): CapacityGroupSpec | undefined {
    return this.specs.get(name);
  }

  /** Sets a group's targets, within its maxima. */
  async resize(
    name: string,
    target: { dedicated: number; spot: number },
    options: {
      abortSignal?: AbortSignal;
      deallocation?: 'taskCompletion' | 'requeue';
      resizeTimeoutMs?: number;
    } = {},
  ): Promise<CapacityGroupView> {
    const spec = this.specs.get(name);
    if (!spec) throw new NotFoundError(`capacity group ${JSON.stringify(name)} does not exist`);
    if (target.dedicated > spec.maxDedicatedNodes) {
      throw new ValidationError(
        'target_dedicated_nodes',
        target.dedicated,
        `must be at most max_dedicated_nodes (${spec.maxDedicatedNodes})`,
      );
    }
    if (target.spot > spec.maxSpotNodes) {
      throw new ValidationError(
        'target_spot_nodes',
        target.spot,
        `must be at most max_spot_nodes (${spec.maxSpotNodes})`,
      );
    }
    const status = await this.backendFor(spec).resizeGroup(name, target, options);
    return this.view(spec, status);
  }

  /** Deletes a group. Deleting a missing group succeeds. */
  async delete(name: string, options: { abortSignal?: AbortSignal } = {}): Promise<void> {
    const spec = this.specs.get(name);
    if (!spec) return;
    await this.backendFor(spec).deleteGroup(name, options);
    this.specs.delete(name);
    this.save();
  }

  /** A group's nodes. */
  async listNodes(name: string, options: { abortSignal?: AbortSignal } = {}): Promise<ComputeNode[]> {
    const spec = this.specs.get(name);
    if (!spec) throw new NotFoundError(`capacity group ${JSON.stringify(name)} does not exist`);
    return this.backendFor(spec).listNodes(name, options);
  }

  /** Capacity events after `afterSeq` (of one group if given). */
  eventsAfter(afterSeq: number, group?: string): SequencedCapacityEvent[] {
    return this.events.slice(afterSeq).filter((e) => !group || e.group === group);
  }

  get lastSeq(): number {
    return this.events.length;
  }

  onEvents(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private view(spec: CapacityGroupSpec, status: GroupStatus | undefined): CapacityGroupView {
    const costPerHour = status
      ? status.currentDedicatedNodes * (spec.cost?.dedicatedPerNodeHour ?? 0) +
        status.currentSpotNodes * (spec.cost?.spotPerNodeHour ?? 0)
      : 0;
    return { spec, status, costPerHour };
  }

  private save(): void {
    writeFileAtomic(
      this.file,
      JSON.stringify(
        [...this.specs.values()].map((spec) => CapacityGroupSpec.toJSON(spec)),
        null,
        2,
      ),
    );
  }

  close(): void {
    for (const u of this.unsubscribes) u();
    this.listeners.clear();
  }
}

/** The backend's view of a wire spec: worker-burst groups carry their scale-set options. */
export function toBackendSpec(spec: CapacityGroupSpec): GroupSpec {
  if (spec.mode === BurstMode.BURST_MODE_WORKER_BURST) return scaleSetSpecFromWire(spec);
  const durationMs = spec.resizeTimeout
    ? spec.resizeTimeout.seconds * 1000 + spec.resizeTimeout.nanos / 1e6
    : undefined;
  return {
    name: spec.name,
    vmSize: spec.vmSize,
    taskSlotsPerNode: spec.taskSlotsPerNode || 1,
    maxDedicatedNodes: spec.maxDedicatedNodes,
    maxSpotNodes: spec.maxSpotNodes,
    ...(spec.image ? { image: spec.image } : {}),
    ...(spec.batchPool?.startTaskCommand ? { startTaskCommand: spec.batchPool.startTaskCommand } : {}),
    ...(durationMs ? { resizeTimeoutMs: durationMs } : {}),
  };
}
