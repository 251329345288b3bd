// The demos print one line each time the service's plan for a job changes: what it does
// with the job and why (the same lines `spillway plan` shows).
import { planReasonsKey, type BurstClient } from '@spillway/sdk';

/**
 * Polls the service's burst status and calls `print` with one line per change of a job's
 * plan for `source` (its reason, when what it does changes, not its figures), until
 * `signal` aborts.
 */
export async function followPlans(
  client: BurstClient,
  source: string,
  print: (line: string) => void,
  signal: AbortSignal,
  intervalMs = 500,
): Promise<void> {
  const said = new Map<string, string>();
  while (!signal.aborted) {
    try {
      const status = await client.burstStatus({ abortSignal: signal });
      const plan = status.sources.find((s) => s.source === source)?.lastPlan;
      for (const job of plan?.jobs ?? []) {
        const line = `${job.sourceJobId}: ${job.reason}`;
        // A change of what the plan does, not of its counts and times (they tick every poll).
        const key = planReasonsKey([line]);
        if (said.get(job.sourceJobId) === key) continue;
        said.set(job.sourceJobId, key);
        print(`  plan    ${line}`);
      }
    } catch {
      if (signal.aborted) return;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
