/**
 * Path rules for manifests and outputs, as pure functions: every path a manifest carries is
 * relative, normalised, `/`-separated and stays inside its root. Windows paths from a
 * render manager (`Z:\projects\show\shot.blend`) are mapped to local ones by the same kind
 * of path-mapping rules Deadline and OpenCue use.
 */
import * as path from 'node:path';
import { PathEscapeError } from './errors';

/** One path-mapping rule: a path starting with `from` starts with `to` instead. */
export interface PathMappingRule {
  /** Prefix to replace, e.g. `Z:\projects` or `\\filer\show`. */
  readonly from: string;
  /** Replacement, e.g. `/mnt/projects`. */
  readonly to: string;
  /**
   * Compare case-insensitively.
   * @default true when `from` looks like a Windows path (drive letter, UNC or backslash), else false
   */
  readonly caseInsensitive?: boolean;
}

const windowsLike = (p: string): boolean => /^[A-Za-z]:/.test(p) || p.startsWith('\\\\') || p.includes('\\');

/** `\` to `/`, duplicate separators collapsed (a UNC `//` start kept), trailing `/` removed. */
function slashes(p: string): string {
  const unc = p.startsWith('\\\\') || p.startsWith('//');
  let out = p.replace(/\\/g, '/').replace(/\/{2,}/g, '/');
  if (unc) out = '/' + out;
  if (out.length > 1 && out.endsWith('/') && !/^[A-Za-z]:\/$/.test(out)) out = out.slice(0, -1);
  return out;
}

/**
 * Applies the first rule whose `from` is a whole-segment prefix of `p`. Separators are
 * compared as equal whichever way they lean; the result uses `/`. A path no rule matches
 * is returned unchanged (with `\` turned into `/` when it looked like a Windows path).
 */
export function mapPath(p: string, rules: readonly PathMappingRule[]): string {
  const sp = slashes(p);
  for (const rule of rules) {
    const from = slashes(rule.from);
    const ci = rule.caseInsensitive ?? windowsLike(rule.from);
    const a = ci ? sp.toLowerCase() : sp;
    const b = ci ? from.toLowerCase() : from;
    if (a === b || a.startsWith(b.endsWith('/') ? b : b + '/')) {
      const rest = sp.slice(from.length).replace(/^\//, '');
      const to = slashes(rule.to);
      return rest ? `${to.endsWith('/') ? to : to + '/'}${rest}` : to;
    }
  }
  return windowsLike(p) ? sp : p;
}

/** True for `/x`, `C:\x`, `C:x`, `\\server\share` and `\x`. */
export function isAbsoluteAnywhere(p: string): boolean {
  return p.startsWith('/') || p.startsWith('\\') || /^[A-Za-z]:/.test(p);
}

/**
 * Normalises a path that must be relative to a root: separators to `/`, `.` segments and
 * duplicate separators dropped. Refuses (with a `PathEscapeError` naming `field` and the
 * value) empty paths, absolute or drive paths, `..` segments, and NUL or control characters.
 */
export function normaliseRelativePath(p: string, field = 'path'): string {
  if (typeof p !== 'string' || p.length === 0) {
    throw new PathEscapeError(field, p, 'must be a non-empty relative path');
  }
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f]/.test(p)) throw new PathEscapeError(field, p, 'must not contain control characters');
  if (isAbsoluteAnywhere(p)) {
    throw new PathEscapeError(field, p, 'must be relative to the root; absolute and drive paths are refused');
  }
  const parts: string[] = [];
  for (const seg of p.replace(/\\/g, '/').split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') throw new PathEscapeError(field, p, 'must not contain ".." segments');
    parts.push(seg);
  }
  if (parts.length === 0) throw new PathEscapeError(field, p, 'must name a file below the root');
  return parts.join('/');
}

/**
 * The manifest path of `absolute` below `root` (both absolute, local). Refuses a path that
 * is not inside `root`.
 */
export function relativeToRoot(root: string, absolute: string, field = 'path'): string {
  const rel = path.relative(path.resolve(root), path.resolve(absolute));
  if (rel === '' || rel.startsWith('..' + path.sep) || rel === '..' || path.isAbsolute(rel)) {
    throw new PathEscapeError(field, absolute, `must be inside the root ${JSON.stringify(root)}`);
  }
  return normaliseRelativePath(rel.split(path.sep).join('/'), field);
}

/** Joins a manifest path under a local directory, refusing anything that would leave it. */
export function resolveInside(root: string, relative: string, field = 'path'): string {
  const rel = normaliseRelativePath(relative, field);
  const target = path.resolve(root, ...rel.split('/'));
  const base = path.resolve(root);
  if (!target.startsWith(base + path.sep)) {
    throw new PathEscapeError(field, relative, `must stay inside ${JSON.stringify(root)}`);
  }
  return target;
}
