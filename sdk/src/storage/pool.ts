/** Bounded concurrency for storage work. */

/**
 * Runs `worker` over `items` with at most `concurrency` in flight. Stops scheduling on the
 * first failure or when `abortSignal` aborts, waits for the in-flight ones, then rejects
 * with the first error (or the abort reason).
 */
export async function forEachLimited<T>(
  items: readonly T[],
  concurrency: number,
  worker: (item: T, index: number) => Promise<void>,
  abortSignal?: AbortSignal,
): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const lane = async (): Promise<void> => {
    while (!failure && next < items.length) {
      if (abortSignal?.aborted) {
        failure ??= { error: abortSignal.reason };
        return;
      }
      const i = next++;
      try {
        await worker(items[i]!, i);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  const lanes = Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, lane);
  await Promise.all(lanes);
  if (failure) throw failure.error;
  abortSignal?.throwIfAborted();
}
