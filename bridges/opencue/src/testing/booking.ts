/**
 * The fake Cuebot's booking decision as a pure function: which waiting frames go onto which
 * hosts. A host takes a frame when it is UP and OPEN, has the layer's cores and memory idle,
 * shares a tag with the layer, and the job's show subscribes to the host's allocation with
 * burst room left. Jobs go by priority (then age), frames by dispatch order.
 */

/** A host as the booker sees it (cores in core units, memory in KB). */
export interface BookableHost {
  readonly name: string;
  readonly allocation: string;
  readonly tags: readonly string[];
  readonly up: boolean;
  readonly open: boolean;
  readonly idleUnits: number;
  readonly idleMemoryKb: number;
}

/** A waiting frame as the booker sees it. */
export interface BookableFrame {
  readonly frameId: string;
  readonly jobId: string;
  readonly show: string;
  readonly priority: number;
  /** Lower goes first within a job. */
  readonly order: number;
  readonly layerTags: readonly string[];
  readonly minUnits: number;
  readonly minMemoryKb: number;
}

/** A show's subscription to an allocation (core units). */
export interface BookableSubscription {
  readonly show: string;
  readonly allocation: string;
  readonly burstUnits: number;
  readonly reservedUnits: number;
}

/** One booking. */
export interface Booking {
  readonly frameId: string;
  readonly host: string;
  readonly units: number;
  readonly memoryKb: number;
}

/** Books as many waiting frames as fit, in priority order, onto the first host that fits. */
export function bookFrames(
  hosts: readonly BookableHost[],
  frames: readonly BookableFrame[],
  subscriptions: readonly BookableSubscription[],
): Booking[] {
  const idle = new Map(hosts.map((h) => [h.name, { units: h.idleUnits, mem: h.idleMemoryKb }]));
  const reserved = new Map(subscriptions.map((s) => [`${s.show}\u0000${s.allocation}`, s.reservedUnits]));
  const burst = new Map(subscriptions.map((s) => [`${s.show}\u0000${s.allocation}`, s.burstUnits]));
  const ordered = [...frames].sort(
    (a, b) => b.priority - a.priority || a.jobId.localeCompare(b.jobId) || a.order - b.order,
  );
  const out: Booking[] = [];
  for (const f of ordered) {
    for (const h of hosts) {
      if (!h.up || !h.open) continue;
      const room = idle.get(h.name)!;
      if (room.units < f.minUnits || room.units <= 0 || room.mem < f.minMemoryKb) continue;
      if (!f.layerTags.some((t) => h.tags.includes(t))) continue;
      const key = `${f.show}\u0000${h.allocation}`;
      const limit = burst.get(key);
      if (limit === undefined || (reserved.get(key) ?? 0) + f.minUnits > limit) continue;
      room.units -= f.minUnits;
      room.mem -= f.minMemoryKb;
      reserved.set(key, (reserved.get(key) ?? 0) + f.minUnits);
      out.push({ frameId: f.frameId, host: h.name, units: f.minUnits, memoryKb: f.minMemoryKb });
      break;
    }
  }
  return out;
}
