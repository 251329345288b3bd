import type { Command } from '@commander-js/extra-typings';
import type { CostReport, Evictions, NodeHours } from '../../model/cost';
import { exits, printJson, typedOption, type ValueParser, withConnection } from '../command';
import { connect } from '../connect';

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/**
 * `--since`: a time (`2026-12-01`, `2026-12-01T08:00:00Z`) or how long ago (`90m`, `24h`,
 * `7d`); `now` is passed for tests.
 */
export function sinceParser(now: () => number = Date.now): ValueParser<Date> {
  return (value) => {
    const ago = /^(\d+(?:\.\d+)?)([smhdw])$/.exec(value.trim());
    if (ago) return new Date(now() - Number(ago[1]) * UNIT_MS[ago[2]!]!);
    if (/^\d{4}-\d\d-\d\d/.test(value)) {
      const at = new Date(value);
      if (!Number.isNaN(at.getTime())) return at;
    }
    throw new Error('expected a time (2026-12-01, 2026-12-01T08:00:00Z) or how long ago (90m, 24h, 7d)');
  };
}

function hours(h: NodeHours): string {
  const parts = [`${h.dedicated.toFixed(3)} ded`, `${h.spot.toFixed(3)} spot`];
  if (h.unknown > 0) parts.push(`${h.unknown.toFixed(3)} ?`);
  return parts.join(' + ');
}

function evictions(e: Evictions, currency: string): string {
  if (e.nodes === 0 && e.lostAttempts === 0) return '-';
  return `${e.nodes} node(s), ${e.lostAttempts} attempt(s) lost: ${e.lostNodeHours.toFixed(3)} node-h, ${e.lostCost.toFixed(4)} ${currency}`;
}

/** The report as people read it. */
export function formatCostReport(r: CostReport): string {
  const c = r.currency;
  const table = (head: string[], rows: string[][]): string => {
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
    const line = (cells: string[]): string =>
      cells
        .map((x, i) => x.padEnd(widths[i]!))
        .join('  ')
        .trimEnd();
    return [line(head), ...rows.map(line)].join('\n');
  };
  const out = [
    `cost from ${r.since.toISOString()} to ${r.until.toISOString()} (${c})`,
    '',
    'capacity groups',
    table(
      ['group', 'node-hours', 'spend', 'cloud frames', 'per frame', 'evictions'],
      r.groups.map((g) => [
        g.capacityGroup,
        hours(g.nodeHours),
        g.spend.toFixed(4),
        String(g.cloudFrames),
        g.costPerCloudFrame.toFixed(4),
        evictions(g.evictions, c),
      ]),
    ),
    '',
    'jobs',
    r.jobs.length > 0
      ? table(
          [
            'job',
            'source',
            'group',
            'node-hours',
            'spend',
            'frames ok/failed/recalled',
            'per frame',
            'evictions',
          ],
          r.jobs.map((j) => [
            `${j.name} (${j.jobId})`,
            j.source,
            j.capacityGroup,
            hours(j.nodeHours),
            j.spend.toFixed(4),
            `${j.cloudFrames}/${j.failedFrames}/${j.recalledFrames}`,
            j.costPerCloudFrame.toFixed(4),
            evictions(j.evictions, c),
          ]),
        )
      : 'no job had frames in the cloud in this window',
    '',
    `total: ${hours(r.nodeHours)} node-hours, spend ${r.spend.toFixed(4)} ${c}, ${r.cloudFrames} cloud frame(s) at ${r.costPerCloudFrame.toFixed(4)} ${c} each; evictions: ${evictions(r.evictions, c)}`,
  ];
  return out.join('\n');
}

/** `spillway cost [--since WHEN]`. */
export function register(program: Command): void {
  withConnection(
    program
      .command('cost')
      .summary('what capacity and frames cost: per group and per job')
      .description(
        "what burst capacity and cloud frames cost over a window: per capacity group and per job, node-hours (dedicated and spot), spot evictions and the work they lost, spend, and the cost per cloud frame. A group's spend is its node time x its prices (idle time included); a job's is its frames' attempts (run time x slot price)",
      )
      .addOption(
        typedOption(
          '--since <WHEN>',
          'start of the window: a time (2026-12-01T08:00:00Z) or how long ago (90m, 24h, 7d) (default: since the service began metering)',
          sinceParser(),
        ),
      )
      .addHelpText(
        'after',
        '\nExamples:\n  spillway cost --since 24h\n  spillway cost --since 2026-12-01 --json',
      ),
  ).action(
    exits(async (opts) => {
      const client = connect(opts);
      try {
        const report = await client.costReport(opts.since ? { since: opts.since } : {});
        if (opts.json) printJson(report);
        else console.log(formatCostReport(report));
        return 0;
      } finally {
        client.close();
      }
    }),
  );
}
