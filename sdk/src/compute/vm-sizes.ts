/**
 * Azure VM sizes: what a size name says about its vCPUs (Batch's core quotas and ARM's
 * regional vCPU usage count them) and its GPUs (the one GPU table every part of Spillway
 * reads: capacity groups check a declared GPU count against it, the local engine and the
 * emulators report node GPUs from it, the Batch backend reads a node's GPUs from its size).
 * Pure.
 *
 * Azure names most sizes `Standard_<family><vCPUs><features>[_v<n>]` (`Standard_D4as_v5`
 * has 4); the older sizes whose number is not the vCPU count are listed. Partial-GPU sizes
 * (NVadsA10 v5 below NV36, NVv4 below NV32) count as one GPU: a renderer sees one device.
 */

/** Sizes whose number is not their vCPU count (lower case, without `standard_`). */
const IRREGULAR: Readonly<Record<string, number>> = {
  // A-series (classic) and the compute-intensive A8-A11.
  a0: 1,
  a1: 1,
  a2: 2,
  a3: 4,
  a4: 8,
  a5: 2,
  a6: 4,
  a7: 8,
  a8: 8,
  a9: 16,
  a10: 8,
  a11: 16,
  basic_a0: 1,
  basic_a1: 1,
  basic_a2: 2,
  basic_a3: 4,
  basic_a4: 8,
  // Memory-optimised D11-D15 (and DS11-DS15, v1 and v2).
  d11: 2,
  d12: 4,
  d13: 8,
  d14: 16,
  d15: 20,
  // G and GS series.
  g1: 2,
  g2: 4,
  g3: 8,
  g4: 16,
  g5: 32,
};

/**
 * The vCPU count of a VM size such as `Standard_D16as_v5` (16), `Standard_NC6` (6),
 * `Standard_E8-4s_v5` (8: a constrained size counts its full vCPUs against quota) or
 * `Standard_DS12_v2` (4); undefined for a name that is not an Azure VM size.
 */
export function vmSizeCores(vmSize: string): number | undefined {
  const m = /^(?:(basic)_|standard_)?([a-z]+)(\d+)[a-z0-9_-]*?(?:_v(\d+))?(?:_promo)?$/.exec(
    vmSize.trim().toLowerCase(),
  );
  if (!m) return undefined;
  const [, basic, family, digits, version] = m as unknown as [
    string,
    string | undefined,
    string,
    string,
    string | undefined,
  ];
  // DS12 and GS5 are D12's and G5's premium-storage twins; the A_v2 sizes are regular.
  const bare = family === 'ds' || family === 'gs' ? family[0]! : family;
  const irregular = IRREGULAR[`${basic ? 'basic_' : ''}${bare}${digits}`];
  if (irregular !== undefined && !(bare === 'a' && version !== undefined)) return irregular;
  const n = Number(digits);
  return n > 0 ? n : undefined;
}

/** A GPU VM size: its GPUs per node and their model. */
export interface GpuVmSize {
  readonly gpus: number;
  readonly model: string;
}

/** By lower-case name (Azure compares sizes case-insensitively). */
const table: Record<string, GpuVmSize> = {};
/** As Azure spells them. */
const names: string[] = [];
function add(model: string, sizes: Readonly<Record<string, number>>): void {
  for (const [name, gpus] of Object.entries(sizes)) {
    table[name.toLowerCase()] = { gpus, model };
    names.push(name);
  }
}
add('NVIDIA T4', {
  Standard_NC4as_T4_v3: 1,
  Standard_NC8as_T4_v3: 1,
  Standard_NC16as_T4_v3: 1,
  Standard_NC64as_T4_v3: 4,
});
add('NVIDIA V100', {
  Standard_NC6s_v3: 1,
  Standard_NC12s_v3: 2,
  Standard_NC24s_v3: 4,
  Standard_NC24rs_v3: 4,
  Standard_ND40rs_v2: 8,
});
add('NVIDIA A100', {
  Standard_NC24ads_A100_v4: 1,
  Standard_NC48ads_A100_v4: 2,
  Standard_NC96ads_A100_v4: 4,
  Standard_ND96asr_v4: 8,
  Standard_ND96amsr_A100_v4: 8,
});
add('NVIDIA H100', {
  Standard_NC40ads_H100_v5: 1,
  Standard_NC80adis_H100_v5: 2,
  Standard_ND96isr_H100_v5: 8,
});
add('NVIDIA A10', {
  Standard_NV6ads_A10_v5: 1,
  Standard_NV12ads_A10_v5: 1,
  Standard_NV18ads_A10_v5: 1,
  Standard_NV36ads_A10_v5: 1,
  Standard_NV36adms_A10_v5: 1,
  Standard_NV72ads_A10_v5: 2,
});
add('NVIDIA M60', { Standard_NV12s_v3: 1, Standard_NV24s_v3: 2, Standard_NV48s_v3: 4 });
add('AMD MI25', { Standard_NV4as_v4: 1, Standard_NV8as_v4: 1, Standard_NV16as_v4: 1, Standard_NV32as_v4: 1 });

/** The GPU sizes Spillway knows, by their Azure names. */
export function knownGpuVmSizes(): ReadonlyMap<string, GpuVmSize> {
  return new Map(names.map((n) => [n, table[n.toLowerCase()]!]));
}

/**
 * GPUs per node of an Azure VM size: the table's count for a known N-series size, 0 for any
 * other Azure size (`Standard_D16as_v5`: no GPU), undefined when the size says nothing (an
 * N-series size this table lacks, or a free-text size of the local engine): then what the
 * group declares is trusted.
 */
export function gpusOfVmSize(vmSize: string): number | undefined {
  const known = table[vmSize.toLowerCase()];
  if (known) return known.gpus;
  if (/^standard_n/i.test(vmSize)) return undefined;
  if (/^(standard|basic)_/i.test(vmSize)) return 0;
  return undefined;
}

/** The GPU model of a known size, e.g. `NVIDIA T4`. */
export function gpuModelOfVmSize(vmSize: string): string | undefined {
  return table[vmSize.toLowerCase()]?.model;
}
