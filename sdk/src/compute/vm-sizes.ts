/**
 * vCPUs of an Azure VM size, from its name: what Batch's core quotas and ARM's regional
 * vCPU usage count. Azure names most sizes `Standard_<family><vCPUs><features>[_v<n>]`
 * (`Standard_D4as_v5` has 4); the older sizes whose number is not the vCPU count are listed.
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
