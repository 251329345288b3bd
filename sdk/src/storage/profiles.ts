/**
 * Storage profiles: a studio declares, per render manager, the file-system locations its jobs
 * name (`/mnt/projects` on Linux workers, `P:\` on Windows ones) and how cloud frames reach
 * each: SHARED (through a mount of the capacity group: never uploaded, paths rewritten to the
 * mount) or LOCAL (synced content-addressed, as without a profile). Pure.
 *
 * A SHARED location becomes a path-mapping rule (`storage.mapPath`'s) whose target is the
 * mount's variable, `$SPILLWAY_MOUNT_<NAME>` (plus the location's directory below the mount's
 * root), so a job's scene, command and output paths are rewritten by the same rules as every
 * other mapped path, once; `shellWordForPath` turns a mapped path into a shell word in which
 * the variable expands on the node.
 */
import { ValidationError } from '../errors';
import { shellQuote } from '../template/shell';
import { mountEnvName } from './mounts';
import { mapPath, type PathMappingRule } from './paths';

/** How cloud frames reach a location. */
export type StorageKind = 'shared' | 'local';

/** One file-system location of the studio, as its render manager's jobs name it. */
export interface StorageLocation {
  /** The location as jobs name it: `/mnt/projects`, `P:\`, `\\filer\show`. */
  readonly path: string;
  /** `shared`: reachable from the cloud through a mount; `local`: synced to Blob Storage. */
  readonly storage: StorageKind;
  /** SHARED: the name of the capacity group's mount that reaches it. */
  readonly mount?: string;
  /** SHARED: the location's directory below the mount's root. @default '' (the mount's root) */
  readonly mountSubpath?: string;
}

/** Where a path lies, by the profile. */
export type PathPlacement =
  | {
      readonly storage: 'shared';
      readonly location: StorageLocation;
      readonly mount: string;
      readonly pathInMount: string;
    }
  | { readonly storage: 'local'; readonly location?: StorageLocation };

const windowsRooted = (p: string): boolean => /^[A-Za-z]:[\\/]?/.test(p) || /^\\\\[^\\]/.test(p);
const MOUNT_NAME = /^[a-z][a-z0-9_-]{0,31}$/;
const VARIABLE_PATH = /^\$([A-Z_][A-Z0-9_]*)(\/.*)?$/;

/**
 * Checks a profile's locations: absolute paths of either kind, `storage` shared or local, a
 * mount name for shared ones, a relative `mountSubpath` without `..`, no location twice.
 * Errors name `field[i].key` and quote the value.
 */
export function validateStorageLocations(field: string, value: unknown): StorageLocation[] {
  if (!Array.isArray(value))
    throw new ValidationError(
      field,
      value,
      'must be a list of {"path": "P:\\\\", "storage": "shared", "mount": "projects"}',
    );
  const seen = new Set<string>();
  return value.map((raw: unknown, i) => {
    const at = (k: string): string => `${field}[${i}].${k}`;
    const loc = (raw ?? {}) as Record<string, unknown>;
    for (const k of Object.keys(loc))
      if (!['path', 'storage', 'mount', 'mountSubpath'].includes(k))
        throw new ValidationError(at(k), k, 'is not a key; keys are path, storage, mount, mountSubpath');
    const p = loc.path;
    if (typeof p !== 'string' || /[\0\n\r]/.test(p) || !(p.startsWith('/') || windowsRooted(p)))
      throw new ValidationError(
        at('path'),
        p,
        'must be an absolute path: /mnt/projects, P:\\ or \\\\filer\\show',
      );
    const storage = loc.storage;
    if (storage !== 'shared' && storage !== 'local')
      throw new ValidationError(at('storage'), storage, 'must be "shared" or "local"');
    const key = mapPath(p, []).toLowerCase().replace(/\/$/, '');
    if (seen.has(key)) throw new ValidationError(at('path'), p, 'is declared twice');
    seen.add(key);
    if (storage === 'local') {
      if (loc.mount !== undefined)
        throw new ValidationError(at('mount'), loc.mount, 'is for shared locations only');
      return { path: p, storage };
    }
    const mount = loc.mount;
    if (typeof mount !== 'string' || !MOUNT_NAME.test(mount))
      throw new ValidationError(
        at('mount'),
        mount,
        "must name the capacity group's mount that reaches the location",
      );
    const sub = loc.mountSubpath ?? '';
    if (
      typeof sub !== 'string' ||
      sub.startsWith('/') ||
      /[\0\n\r"'`$\\]/.test(sub) ||
      sub.split('/').some((s) => s === '..')
    )
      throw new ValidationError(
        at('mountSubpath'),
        sub,
        'must be a relative path below the mount, without ".." or quotes',
      );
    const clean = sub
      .split('/')
      .filter((s) => s !== '' && s !== '.')
      .join('/');
    return { path: p, storage, mount, ...(clean ? { mountSubpath: clean } : {}) };
  });
}

/** `p` relative to `root` (whole segments, compared as path-mapping rules compare), or undefined. */
function below(p: string, root: string): string | undefined {
  const rel = mapPath(p, [{ from: root, to: '/' }]);
  if (rel === '/') return '';
  return rel !== p && rel.startsWith('/') ? rel.slice(1) : undefined;
}

/** Where `p` (as a job names it) lies: the deepest declared location containing it wins; none is local. */
export function placePath(p: string, locations: readonly StorageLocation[]): PathPlacement {
  let best: { loc: StorageLocation; rel: string } | undefined;
  for (const loc of locations) {
    const rel = below(p, loc.path);
    if (rel === undefined) continue;
    if (!best || mapPath(loc.path, []).length > mapPath(best.loc.path, []).length) best = { loc, rel };
  }
  if (!best) return { storage: 'local' };
  if (best.loc.storage === 'local') return { storage: 'local', location: best.loc };
  const pathInMount = [best.loc.mountSubpath ?? '', best.rel].filter((s) => s !== '').join('/');
  return { storage: 'shared', location: best.loc, mount: best.loc.mount!, pathInMount };
}

/**
 * The path-mapping rules of the SHARED locations: each rewrites the location to
 * `$SPILLWAY_MOUNT_<NAME>[/<mountSubpath>]`. Put them before the studio's own rules, so a
 * shared location is reached through its mount.
 */
export function sharedPathRules(locations: readonly StorageLocation[]): PathMappingRule[] {
  return locations
    .filter((l) => l.storage === 'shared')
    .map((l) => ({
      from: l.path,
      to: `$${mountEnvName(l.mount!)}${l.mountSubpath ? '/' + l.mountSubpath : ''}`,
    }));
}

/**
 * A mapped path as a shell word: `$SPILLWAY_MOUNT_X/a b.blend` becomes
 * `"$SPILLWAY_MOUNT_X"/'a b.blend'` (the variable expands on the node, the rest is quoted);
 * any other path is quoted whole.
 */
export function shellWordForPath(mapped: string): string {
  const m = VARIABLE_PATH.exec(mapped);
  if (!m) return shellQuote(mapped);
  const rest = (m[2] ?? '').replace(/^\/+/, '');
  return rest ? `"$${m[1]}"/${shellQuote(rest)}` : `"$${m[1]}"`;
}

/** True when a mapped path starts with a variable (`$SPILLWAY_MOUNT_X/...`). */
export function isVariablePath(mapped: string): boolean {
  return VARIABLE_PATH.test(mapped);
}
