/** Running every policy on a scenario and presenting the figures. */
import { createController, POLICY_NAMES, type PolicyName } from './controllers';
import { lowerBound } from './lower-bound';
import type { Scenario } from './scenario';
import { simulate, type SimResult, type SimulateOptions } from './simulator';

/** One policy's figures with the ratio to the lower bound. */
export interface PolicyResult extends SimResult {
  /** cost ÷ lower bound; null when the bound is 0. */
  readonly costOverLowerBound: number | null;
}

/** Every requested policy on one scenario (the `simulate --json` document). */
export interface ScenarioReport {
  readonly scenario: string;
  readonly lowerBoundCost: number;
  readonly results: readonly PolicyResult[];
}

/**
 * Runs the named policies (all by default) on a scenario.
 * @param policies - names from `POLICY_NAMES`
 * @default policies every policy
 */
export function runScenario(
  scenario: Scenario,
  policies: readonly PolicyName[] = POLICY_NAMES,
  options: SimulateOptions = {},
): ScenarioReport {
  const lb = lowerBound(scenario).cost;
  return {
    scenario: scenario.name,
    lowerBoundCost: round(lb, 4),
    results: policies.map((p) => {
      const r = simulate(scenario, createController(p), options);
      return {
        ...r,
        cost: round(r.cost, 4),
        spotNodeHours: round(r.spotNodeHours, 3),
        dedicatedNodeHours: round(r.dedicatedNodeHours, 3),
        costOverLowerBound: lb > 0 ? round(r.cost / lb, 3) : null,
      };
    }),
  };
}

const round = (x: number, digits: number): number => Number(x.toFixed(digits));

/** `12345` seconds as `3h25m45s`-style `3:25:45`. */
export function clock(seconds: number | null): string {
  if (seconds === null) return 'unfinished';
  const s = Math.round(seconds);
  return `${Math.floor(s / 3600)}:${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
}

/** Column headings of the summary table. */
export const TABLE_HEADINGS = [
  'policy',
  'makespan',
  'deadlines met',
  'cost',
  'cost ÷ LB',
  'spot node-h',
  'dedicated node-h',
  'offloaded',
  'recalled',
  'evictions',
] as const;

/** The summary row of one result. */
export function tableRow(r: PolicyResult): string[] {
  return [
    r.policy,
    clock(r.makespanSeconds) + (r.completed ? '' : ' (unfinished)'),
    `${r.deadlinesMet}/${r.deadlinesTotal}`,
    r.cost.toFixed(2),
    r.costOverLowerBound === null ? '–' : r.costOverLowerBound.toFixed(2),
    r.spotNodeHours.toFixed(1),
    r.dedicatedNodeHours.toFixed(1),
    String(r.framesOffloaded),
    String(r.framesRecalled),
    String(r.evictions),
  ];
}

/** A plain-text table for a terminal. */
export function textTable(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows
    .map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '))
    .join('\n');
}
