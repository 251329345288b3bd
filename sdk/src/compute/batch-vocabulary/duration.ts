/**
 * Batch's durations: ISO 8601 (`PT15M`, `P1DT2H`, `PT1.5S`), as its TimeSpan properties
 * take and answer them, with .NET's TimeSpan maximum meaning "no limit".
 */

/** Batch's "forever": the .NET `TimeSpan.MaxValue`. */
export const BATCH_FOREVER = 'P10675199DT2H48M5.4775807S';
/** Milliseconds from which a duration is Batch's "forever". */
export const BATCH_FOREVER_MS = 10675199 * 86_400_000;

/** Parses an ISO 8601 duration to milliseconds; undefined when malformed. */
export function parseIsoDuration(text: string): number | undefined {
  const m = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/.exec(text);
  if (!m || text === 'P' || text.endsWith('T')) return undefined;
  const [, d, h, min, s] = m;
  return (
    ((Number(d ?? 0) * 24 + Number(h ?? 0)) * 60 + Number(min ?? 0)) * 60_000 +
    Math.round(Number(s ?? 0) * 1000)
  );
}

/** Formats milliseconds as an ISO 8601 duration (`PT1H30M`, `PT0.25S`); {@link BATCH_FOREVER} from its size on. */
export function formatIsoDuration(ms: number): string {
  if (ms >= BATCH_FOREVER_MS) return BATCH_FOREVER;
  const days = Math.floor(Math.max(0, ms) / 86_400_000);
  let rest = Math.max(0, ms) - days * 86_400_000;
  const h = Math.floor(rest / 3_600_000);
  rest -= h * 3_600_000;
  const m = Math.floor(rest / 60_000);
  rest -= m * 60_000;
  const s = rest / 1000;
  const time = (h ? `${h}H` : '') + (m ? `${m}M` : '') + (s ? `${s}S` : '');
  return 'P' + (days ? `${days}D` : '') + (time ? `T${time}` : days ? '' : 'T0S');
}

/** A limit as Batch states it, in milliseconds: undefined when absent, malformed or "forever". */
export function limitMs(text: string | undefined): number | undefined {
  const ms = text ? parseIsoDuration(text) : undefined;
  return ms === undefined || ms >= BATCH_FOREVER_MS ? undefined : ms;
}
