/**
 * Path mapping for paths a Deadline job carries (`Z:\projects\shot.blend` on a Windows
 * submitter) so they work where the frame runs (`/mnt/projects/shot.blend`). A tiny pure
 * version kept here until the SDK exports its storage path mapping (`sdk/src/storage/paths.ts`,
 * same rule shape), which it can then replace.
 */

/** One rule: a path starting with `from` starts with `to` instead. */
export interface PathRule {
  /** Prefix to replace, e.g. `Z:\projects` or `\\filer\show`. */
  readonly from: string;
  /** Replacement, e.g. `/mnt/projects`. */
  readonly to: string;
}

const windowsLike = (p: string): boolean => /^[A-Za-z]:/.test(p) || p.startsWith('\\\\') || p.includes('\\');

function slashes(p: string): string {
  const unc = p.startsWith('\\\\') || p.startsWith('//');
  let out = p.replace(/\\/g, '/').replace(/\/{2,}/g, '/');
  if (unc) out = '/' + out;
  if (out.length > 1 && out.endsWith('/')) out = out.slice(0, -1);
  return out;
}

/**
 * Applies the first rule whose `from` is a whole-segment prefix of `p` (case-insensitive for
 * Windows-like prefixes); the result uses `/`. A path no rule matches comes back unchanged,
 * except that a Windows-like path gets `/` separators.
 */
export function mapPath(p: string, rules: readonly PathRule[]): string {
  const sp = slashes(p);
  for (const rule of rules) {
    const from = slashes(rule.from);
    const ci = windowsLike(rule.from);
    const a = ci ? sp.toLowerCase() : sp;
    const b = ci ? from.toLowerCase() : from;
    if (a === b || a.startsWith(b + '/')) {
      const rest = sp.slice(from.length).replace(/^\//, '');
      const to = slashes(rule.to);
      return rest ? `${to}/${rest}` : to;
    }
  }
  return windowsLike(p) ? sp : p;
}
