/**
 * Plans and group figures as people read them: the text of `spillway plan` and the
 * "planned with" lines of `spillway capacity`, and the JSON document of `spillway plan
 * --json`. Pure: the CLI fetches the status and prints these.
 */
import type { BurstPlan, BurstStatus, GroupParameter, GroupParameters } from '../model/burst';
import { formatSeconds } from './burst-policy';

/** Rows as aligned columns (the first row is the heading). */
function columns(rows: readonly (readonly string[])[]): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) =>
    r
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd(),
  );
}

/** `in 1h05m` / `5m ago` relative to `now`. */
export function relative(at: Date | undefined, now: Date): string {
  if (!at) return '-';
  const s = (at.getTime() - now.getTime()) / 1000;
  return s >= 0 ? `in ${formatSeconds(s)}` : `${formatSeconds(-s)} ago`;
}

/** The lines of one plan: one per job, then one per group target. */
export function planLines(plan: BurstPlan, now: Date): string[] {
  const lines: string[] = [];
  if (plan.jobs.length === 0) lines.push('  no job with work left');
  else
    lines.push(
      ...columns([
        ['JOB', 'GROUP', 'DUE', 'LOCAL FINISH', 'CLOUD', 'OFFLOAD', 'RECALL', 'WHY'],
        ...plan.jobs.map((j) => [
          j.sourceJobId,
          j.capacityGroup,
          relative(j.dueAt, now),
          relative(j.projectedLocalFinishAt, now),
          String(j.cloudFrames),
          String(j.offloadFrames),
          String(j.recallFrames),
          j.reason,
        ]),
      ]).map((l) => `  ${l}`),
    );
  lines.push('');
  lines.push(
    ...columns([
      ['GROUP', 'TARGET (DED/SPOT)', 'COST/H', 'WHY'],
      ...plan.targets.map((t) => [
        t.capacityGroup,
        `${t.dedicatedNodes}/${t.spotNodes}`,
        (t.costPerHour ?? 0).toFixed(2),
        (t.reasons ?? []).join('; ') || '-',
      ]),
    ]).map((l) => `  ${l}`),
  );
  return lines;
}

/** The text of `spillway plan`: every reporting source with its last plan. */
export function statusPlanText(status: BurstStatus, now: Date, source?: string): string {
  const sources = status.sources.filter((s) => source === undefined || s.source === source);
  if (sources.length === 0)
    return source === undefined
      ? 'no bridge has reported yet'
      : `no report from source ${JSON.stringify(source)}`;
  const out: string[] = [];
  for (const s of sources) {
    const p = s.lastPlan;
    out.push(
      `${s.source} (${s.sourceKind}), reported ${relative(s.lastReportAt, now)}` +
        (p
          ? `: plan ${p.planId.slice(0, 8)} by ${p.planner}, ${p.offload.reduce((n, o) => n + o.frameCount, 0)} frame(s) to offload, ` +
            `${p.recall.reduce((n, r) => n + r.frameCount, 0)} to recall, projected cost ${p.projectedCostPerHour.toFixed(2)} ${status.currency}/h`
          : ': no plan yet'),
    );
    if (p) out.push(...planLines(p, now));
    out.push('');
  }
  const cap = status.maxSpendPerHour > 0 ? `, cap ${status.maxSpendPerHour.toFixed(2)}/h` : ', uncapped';
  out.push(
    `planner: ${status.planner}; capacity now costs ${status.costPerHour.toFixed(2)} ${status.currency}/h${cap}`,
  );
  return out.join('\n');
}

/** The JSON document of `spillway plan --json`. */
export function statusPlanJson(status: BurstStatus, source?: string): unknown {
  return {
    planner: status.planner,
    currency: status.currency,
    maxSpendPerHour: status.maxSpendPerHour,
    costPerHour: status.costPerHour,
    sources: status.sources
      .filter((s) => source === undefined || s.source === source)
      .map((s) => ({
        source: s.source,
        sourceKind: s.sourceKind,
        lastReportAt: s.lastReportAt.toISOString(),
        plan: s.lastPlan ?? null,
      })),
    parameters: status.parameters,
  };
}

const param = (p: GroupParameter, unit: string, digits = 2): string =>
  `${p.value.toFixed(digits)}${unit} (${p.source === 'observed' ? `observed, ${p.samples} sample(s)` : 'configured'})`;

/** One line per group: the figures the policy plans it with, and where each comes from. */
export function parameterLines(parameters: readonly GroupParameters[]): string[] {
  return parameters.map(
    (g) =>
      `  ${g.capacityGroup}: boot ${param(g.nodeBootSeconds, ' s', 0)}, cloud:local ${param(g.cloudFrameTimeRatio, '×')}, ` +
      `transfer ${param(g.transferSecondsPerFrame, ' s/frame', 1)}, spot evictions ${param(g.spotEvictionsPerNodeHour, '/node-h', 3)}, ` +
      `billing ${g.billingGranularitySeconds.value.toFixed(0)} s` +
      (g.turnaroundTargetSeconds === undefined
        ? ''
        : `, turnaround ${formatSeconds(g.turnaroundTargetSeconds)}`),
  );
}
