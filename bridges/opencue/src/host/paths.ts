/**
 * Path mapping for launched frames: Cuebot substitutes a layer's command with the farm's
 * paths (`/mnt/show/...`); in the cloud the same storage may be mounted elsewhere
 * (`/mnt/cloud/show/...`). The virtual host rewrites the command and environment with
 * prefix rules before it submits the frame, so a frame reads its inputs and writes its
 * outputs on the farm's storage as mounted where it runs.
 */
import { ValidationError } from '@spillway/sdk';

/** One rule: a path starting with `from` starts with `to` in the cloud. */
export interface PathRule {
  /** Absolute farm path prefix, e.g. `/mnt/show`. */
  readonly from: string;
  /** Absolute cloud path prefix, e.g. `/mnt/cloud/show`. */
  readonly to: string;
}

const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Checks rules: absolute POSIX prefixes, no trailing slash (but `/`), no duplicates. */
export function validatePathRules(field: string, rules: unknown): PathRule[] {
  if (!Array.isArray(rules))
    throw new ValidationError(field, rules, 'must be a list of {"from": "/farm/path", "to": "/cloud/path"}');
  const seen = new Set<string>();
  return rules.map((r: unknown, i) => {
    const rule = r as Partial<PathRule>;
    for (const k of ['from', 'to'] as const) {
      const v = rule?.[k];
      if (
        typeof v !== 'string' ||
        !v.startsWith('/') ||
        /[\0\n]/.test(v) ||
        (v.length > 1 && v.endsWith('/'))
      ) {
        throw new ValidationError(
          `${field}[${i}].${k}`,
          v,
          'must be an absolute path without a trailing slash',
        );
      }
    }
    if (seen.has(rule.from!)) throw new ValidationError(`${field}[${i}].from`, rule.from, 'is repeated');
    seen.add(rule.from!);
    return { from: rule.from!, to: rule.to! };
  });
}

/**
 * Rewrites every path in `text` that starts with a rule's `from` as a whole segment
 * (`/mnt/show` matches `/mnt/show/a.blend` and `/mnt/show`, not `/mnt/showreel`), where the
 * path begins the text or follows whitespace, a quote, `=`, `:` or `(`. The longest `from`
 * wins. Text without a match is returned unchanged.
 */
export function mapPaths(text: string, rules: readonly PathRule[]): string {
  if (rules.length === 0) return text;
  const ordered = [...rules].sort((a, b) => b.from.length - a.from.length);
  const alternatives = ordered.map((r) => escape(r.from)).join('|');
  const re = new RegExp(`(^|[\\s"'=:(])(${alternatives})(?=$|[/\\s"';)])`, 'g');
  return text.replace(
    re,
    (_m, lead: string, from: string) => lead + ordered.find((r) => r.from === from)!.to,
  );
}
