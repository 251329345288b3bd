/**
 * Who owns capacity, as pure functions: a plan's targets are clamped by the group's maxima,
 * the floors a person pinned, the nodes that are busy, the farm groups a worker-burst group
 * serves, and the studio's budget; a manual resize is checked against the budget. Plain
 * data in and out, so tests drive them with tables.
 */

/** Node counts by priority. */
export interface NodePair {
  readonly dedicated: number;
  readonly spot: number;
}

/** Price of one node for one hour, by priority, in the budget's currency. */
export interface NodePrices {
  readonly dedicated: number;
  readonly spot: number;
}

/** The studio's spend cap. */
export interface BudgetCap {
  /** 0 = uncapped. */
  readonly maxSpendPerHour: number;
  readonly currency: string;
}

/** What limited a plan's target, in the order they apply. */
export type ClampLimit = 'maximum' | 'pin' | 'busy' | 'notServed' | 'budget';

/** One group as the clamp sees it. */
export interface ClampGroup {
  readonly name: string;
  /** What the plan asks for; undefined when the plan says nothing of this group. */
  readonly requested?: NodePair;
  /** The group's maxima. */
  readonly max: NodePair;
  /** Floors a person pinned (0/0: none). */
  readonly pin: NodePair;
  /** Nodes allocated now. */
  readonly current: NodePair;
  /** The targets the group has now. */
  readonly target: NodePair;
  /** Nodes running work now, by priority: never removed by a plan. */
  readonly busy: NodePair;
  /**
   * True for a worker-burst group the report being answered does not involve: the plan
   * knows nothing of the farm groups it serves, so it may grow the group but not shrink it.
   */
  readonly holdTarget: boolean;
  readonly prices: NodePrices;
}

/** A clamped target. */
export interface ClampedTarget {
  readonly group: string;
  readonly requested: NodePair;
  readonly effective: NodePair;
  /** What limited it, each once, in the order they apply. */
  readonly limits: readonly ClampLimit[];
  /** One sentence per limit, for the plan's reasons. */
  readonly reasons: readonly string[];
}

/** What `nodes` cost per hour at `prices`. */
export function costOf(nodes: NodePair, prices: NodePrices): number {
  return nodes.dedicated * prices.dedicated + nodes.spot * prices.spot;
}

const KINDS = ['dedicated', 'spot'] as const;
type Kind = (typeof KINDS)[number];

const pair = (f: (k: Kind) => number): NodePair => ({ dedicated: f('dedicated'), spot: f('spot') });
const show = (n: NodePair): string => `${n.dedicated} dedicated + ${n.spot} spot`;
const money = (v: number, currency: string): string => `${v.toFixed(2)} ${currency}/h`;

/** What a group will cost per hour once it has settled at its targets (nodes above them drain away). */
export function projectedCostOf(g: Pick<ClampGroup, 'target' | 'prices'>): number {
  return costOf(g.target, g.prices);
}

/**
 * Clamps a plan's targets. For each group the plan names, in this order:
 * 1. `maximum`: never above the group's maxima;
 * 2. `pin`: never below what a person pinned;
 * 3. `busy`: never below the nodes running work (a plan never removes a busy node);
 * 4. `notServed`: a worker-burst group the report does not involve is never shrunk;
 * 5. `budget`: when every group together would cost more than the cap, the plan's growth
 *    is taken back, dedicated nodes first (they cost more), down to the floors above.
 *    Floors are kept even when they alone exceed the cap: a person set them.
 * Groups the plan does not name keep their targets and count towards the budget.
 */
export function clampPlan(groups: readonly ClampGroup[], budget: BudgetCap): ClampedTarget[] {
  const out = new Map<
    string,
    { effective: Record<Kind, number>; floor: NodePair; limits: ClampLimit[]; reasons: string[] }
  >();
  for (const g of groups) {
    if (!g.requested) continue;
    const limits: ClampLimit[] = [];
    const reasons: string[] = [];
    const note = (limit: ClampLimit, reason: string): void => {
      if (!limits.includes(limit)) limits.push(limit);
      reasons.push(`group ${g.name}: ${reason}`);
    };
    const effective: Record<Kind, number> = { dedicated: g.requested.dedicated, spot: g.requested.spot };
    const floor: Record<Kind, number> = { dedicated: 0, spot: 0 };
    for (const k of KINDS) {
      if (effective[k] > g.max[k]) {
        note('maximum', `${effective[k]} ${k} wanted, at most ${g.max[k]} (its maximum)`);
        effective[k] = g.max[k];
      }
      const pin = Math.min(g.pin[k], g.max[k]);
      if (effective[k] < pin) {
        note('pin', `kept at ${pin} ${k}, pinned by hand (the plan wanted ${effective[k]})`);
        effective[k] = pin;
      }
      floor[k] = pin;
      const busy = Math.min(g.busy[k], g.max[k]);
      if (effective[k] < busy) {
        note('busy', `kept at ${busy} ${k}: ${busy} node(s) are busy and are never removed by a plan`);
        effective[k] = busy;
      }
      floor[k] = Math.max(floor[k], busy);
      if (g.holdTarget) {
        const held = Math.min(g.target[k], g.max[k]);
        if (effective[k] < held) {
          note(
            'notServed',
            `kept at ${held} ${k}: worker burst for farm groups this report does not involve`,
          );
          effective[k] = held;
        }
        floor[k] = Math.max(floor[k], held);
      }
    }
    out.set(g.name, { effective, floor: pair((k) => floor[k]), limits, reasons });
  }

  if (budget.maxSpendPerHour > 0) {
    const cost = (): number =>
      groups.reduce((sum, g) => {
        const o = out.get(g.name);
        return sum + costOf(o ? pair((k) => o.effective[k]) : g.target, g.prices);
      }, 0);
    const wanted = cost();
    let over = wanted - budget.maxSpendPerHour;
    if (over > 1e-9) {
      // Take back growth first: what each group would add over its current target.
      for (const pass of ['growth', 'rest'] as const) {
        for (const k of KINDS) {
          for (const g of groups) {
            const o = out.get(g.name);
            if (!o || over <= 1e-9 || g.prices[k] <= 0) continue;
            const lowest =
              pass === 'growth' ? Math.max(o.floor[k], Math.min(g.target[k], o.effective[k])) : o.floor[k];
            const removable = o.effective[k] - lowest;
            if (removable <= 0) continue;
            const n = Math.min(removable, Math.ceil((over - 1e-9) / g.prices[k]));
            const before = o.effective[k];
            o.effective[k] -= n;
            over -= n * g.prices[k];
            if (!o.limits.includes('budget')) o.limits.push('budget');
            o.reasons.push(
              `group ${g.name}: ${o.effective[k]} ${k} instead of ${before}: budget.maxSpendPerHour is ${money(budget.maxSpendPerHour, budget.currency)} and the plan would cost ${money(wanted, budget.currency)}`,
            );
          }
        }
      }
    }
  }

  return groups
    .filter((g) => g.requested)
    .map((g) => {
      const o = out.get(g.name)!;
      return {
        group: g.name,
        requested: g.requested!,
        effective: pair((k) => o.effective[k]),
        limits: o.limits,
        reasons: o.reasons,
      };
    });
}

/** Why a resize or a group create is refused: it would take the studio over its cap. */
export interface BudgetRefusal {
  /** The cap per hour. */
  readonly maxSpendPerHour: number;
  /** What every group together would cost per hour after the change. */
  readonly projectedCostPerHour: number;
  /** What this group would cost per hour after the change. */
  readonly groupCostPerHour: number;
  readonly message: string;
}

/**
 * Checks a change of one group (a manual resize, new prices) against the cap. A change that
 * does not add cost is always allowed, even over the cap (the cap was lowered, or pins
 * exceed it): taking nodes away must never be refused.
 */
export function checkBudget(
  groups: readonly Pick<ClampGroup, 'name' | 'target' | 'prices'>[],
  change: {
    readonly group: string;
    readonly target: NodePair;
    readonly prices: NodePrices;
    readonly what: string;
  },
  budget: BudgetCap,
): BudgetRefusal | undefined {
  if (budget.maxSpendPerHour <= 0) return undefined;
  const before = groups.find((g) => g.name === change.group);
  const others = groups
    .filter((g) => g.name !== change.group)
    .reduce((sum, g) => sum + projectedCostOf(g), 0);
  const groupCost = costOf(change.target, change.prices);
  const projected = others + groupCost;
  const groupBefore = before ? projectedCostOf(before) : 0;
  if (projected <= budget.maxSpendPerHour + 1e-9 || groupCost <= groupBefore + 1e-9) return undefined;
  const left = Math.max(0, budget.maxSpendPerHour - others);
  const fits = pair((k) => (change.prices[k] > 0 ? Math.floor((left + 1e-9) / change.prices[k]) : Infinity));
  const hint = KINDS.filter((k) => change.target[k] > 0 && Number.isFinite(fits[k]))
    .map((k) => `${fits[k]} ${k}`)
    .join(' or ');
  return {
    maxSpendPerHour: budget.maxSpendPerHour,
    projectedCostPerHour: projected,
    groupCostPerHour: groupCost,
    message:
      `${change.what} would cost ${money(groupCost, budget.currency)} (${money(projected, budget.currency)} for every group together), ` +
      `over budget.maxSpendPerHour of ${money(budget.maxSpendPerHour, budget.currency)}` +
      (hint ? `; ${money(left, budget.currency)} is left, enough for ${hint} node(s)` : '') +
      `; ask for less or raise the cap`,
  };
}

/** Describes a target for messages. */
export function describeTarget(n: NodePair): string {
  return show(n);
}
