/** Text formatting shared by the commands: tables, sizes. */
import type { CapacityGroupInfo, CapacityNodeInfo } from '../client';

/** Rows as aligned columns (the first row is the heading). */
export function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** Capacity groups as a table. */
export function groupTable(groups: readonly CapacityGroupInfo[]): string {
  return table([
    [
      'NAME',
      'MODE',
      'BACKEND',
      'VM SIZE',
      'STATE',
      'NODES (DED/SPOT)',
      'TARGET (DED/SPOT)',
      'SLOTS',
      'COST/H',
    ],
    ...groups.map((g) => [
      g.name,
      g.mode ?? '?',
      g.backend ?? 'default', // the service's configured backend for the mode
      g.vmSize || '-',
      g.state ?? '?',
      `${g.current.dedicated}/${g.current.spot}`,
      `${g.target.dedicated}/${g.target.spot}`,
      String(g.taskSlotsPerNode),
      g.costPerHour.toFixed(2),
    ]),
  ]);
}

/** Nodes as a table. */
export function nodeTable(nodes: readonly CapacityNodeInfo[]): string {
  return table([
    ['NODE', 'GROUP', 'STATE', 'PRIORITY', 'TASKS', 'CREATED'],
    ...nodes.map((n) => [
      n.nodeId,
      n.group,
      n.state ?? '?',
      n.priority,
      String(n.runningTasks),
      n.createdAt?.toISOString() ?? '-',
    ]),
  ]);
}

/** Bytes as B, KiB or MiB. */
export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1048576) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1048576).toFixed(1)} MiB`;
}

/** Bytes in MiB, one decimal. */
export function mib(n: number): string {
  return `${(n / 1048576).toFixed(1)} MiB`;
}
