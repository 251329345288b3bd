/**
 * Manifests: what a submission needs, as relative path, size and SHA-256 per file. Hashes
 * are cached by (path, size, mtime, inode), so an unchanged tree is stat'ed, not re-read.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ValidationError } from '../errors';
import { defaultDataDir } from './azurite';
import { PathEscapeError } from './errors';
import {
  isAbsoluteAnywhere,
  mapPath,
  normaliseRelativePath,
  relativeToRoot,
  type PathMappingRule,
} from './paths';
import { forEachLimited } from './pool';

/** One file of a manifest. */
export interface ManifestEntry {
  /** Relative, normalised, `/`-separated path below the root. */
  readonly path: string;
  readonly sizeBytes: number;
  /** Lower-case hex SHA-256 of the content. */
  readonly sha256: string;
}

/** A manifest: files sorted by path. Its id is the SHA-256 of `canonicalManifestJson`. */
export interface Manifest {
  readonly version: 1;
  readonly files: readonly ManifestEntry[];
}

/** Options of `buildManifest`. */
export interface BuildManifestOptions {
  /**
   * Explicit files (or directories, walked) instead of the whole root: relative to the root,
   * or absolute inside it (after `pathMapping`). @default the whole root
   */
  readonly files?: readonly string[];
  /** Rules mapping render-manager paths (e.g. `Z:\projects`) to local ones. @default [] */
  readonly pathMapping?: readonly PathMappingRule[];
  /** Re-read and re-hash every file, ignoring (and refreshing) the hash cache. @default false */
  readonly verify?: boolean;
  /**
   * The hash cache file, or `false` for none.
   * @default `<data dir>/hash-cache/<sha256 of the root>.json`
   */
  readonly hashCacheFile?: string | false;
  /** Files hashed at once. @default 8 */
  readonly concurrency?: number;
  /** Called as files are hashed. */
  readonly onHashed?: (progress: { readonly filesHashed: number; readonly bytesHashed: number }) => void;
  /**
   * Called as each entry's hash is known (from the cache or just computed), in no particular
   * order. `content`: the bytes that were hashed, when the file was read whole to hash it
   * (files up to `wholeFileBytes`); a caller uploading them needs no second read.
   */
  readonly onEntry?: (entry: ManifestEntry, localPath: string, fromCache: boolean, content?: Buffer) => void;
  /** Files up to this size are read whole (one read) to hash them. @default 4 MiB */
  readonly wholeFileBytes?: number;
  readonly abortSignal?: AbortSignal;
}

/** A built manifest with its id and what hashing cost. */
export interface BuiltManifest {
  readonly manifest: Manifest;
  /** SHA-256 (hex) of the canonical manifest JSON. */
  readonly id: string;
  /** The canonical JSON bytes (what is uploaded as the manifest blob). */
  readonly json: string;
  /** Files whose hash came from the cache. */
  readonly filesFromCache: number;
  /** Files read and hashed now. */
  readonly filesHashed: number;
  readonly bytesHashed: number;
  /** Absolute local path of every manifest path. */
  readonly localPaths: ReadonlyMap<string, string>;
}

/** The canonical JSON of a manifest: entries sorted by path, fixed key order, no spaces. */
export function canonicalManifestJson(manifest: Manifest): string {
  const files = [...manifest.files]
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0))
    .map((f) => ({ path: f.path, sizeBytes: f.sizeBytes, sha256: f.sha256 }));
  return JSON.stringify({ version: 1, files });
}

/** The manifest id: SHA-256 (hex) of its canonical JSON. */
export function manifestId(manifest: Manifest): string {
  return sha256Hex(canonicalManifestJson(manifest));
}

/** SHA-256 (hex) of a string or bytes. */
export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * Parses and validates a manifest (e.g. one downloaded back): every path must pass the
 * path rules, every hash must be 64 hex digits, sizes non-negative integers, no duplicates.
 */
export function parseManifest(json: string, field = 'manifest'): Manifest {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    throw new ValidationError(field, json.slice(0, 80), 'is not JSON');
  }
  const obj = raw as { version?: unknown; files?: unknown };
  if (!obj || obj.version !== 1 || !Array.isArray(obj.files)) {
    throw new ValidationError(`${field}.version`, obj?.version, 'must be 1 with a "files" array');
  }
  const seen = new Set<string>();
  const files = (obj.files as unknown[]).map((f, i) => {
    const e = f as Partial<ManifestEntry>;
    const p = normaliseRelativePath(String(e?.path ?? ''), `${field}.files[${i}].path`);
    if (seen.has(p)) throw new ValidationError(`${field}.files[${i}].path`, p, 'appears twice');
    seen.add(p);
    if (typeof e.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(e.sha256)) {
      throw new ValidationError(`${field}.files[${i}].sha256`, e.sha256, 'must be 64 lower-case hex digits');
    }
    if (typeof e.sizeBytes !== 'number' || !Number.isSafeInteger(e.sizeBytes) || e.sizeBytes < 0) {
      throw new ValidationError(
        `${field}.files[${i}].sizeBytes`,
        e.sizeBytes,
        'must be a non-negative integer',
      );
    }
    return { path: p, sizeBytes: e.sizeBytes, sha256: e.sha256 };
  });
  return { version: 1, files };
}

type CacheRecord = [size: string, mtimeNs: string, ino: string, sha256: string];

/** The hash cache: absolute path to (size, mtime ns, inode, sha256). */
class HashCache {
  private entries: Record<string, CacheRecord> = {};
  private dirty = false;
  constructor(private readonly file: string | undefined) {}

  load(): void {
    if (!this.file) return;
    try {
      const raw = JSON.parse(fs.readFileSync(this.file, 'utf8')) as { version?: number; entries?: unknown };
      if (raw.version === 1 && raw.entries && typeof raw.entries === 'object') {
        this.entries = raw.entries as Record<string, CacheRecord>;
      }
    } catch {
      // missing or unreadable: start empty (the cache is only an optimisation)
    }
  }

  get(abs: string, st: fs.BigIntStats): string | undefined {
    const r = this.entries[abs];
    if (r && r[0] === String(st.size) && r[1] === String(st.mtimeNs) && r[2] === String(st.ino)) return r[3];
    return undefined;
  }

  set(abs: string, st: fs.BigIntStats, sha: string): void {
    this.entries[abs] = [String(st.size), String(st.mtimeNs), String(st.ino), sha];
    this.dirty = true;
  }

  /** Atomic save: a temp file beside it, then rename. */
  save(): void {
    if (!this.file || !this.dirty) return;
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify({ version: 1, entries: this.entries }));
    fs.renameSync(tmp, this.file);
    this.dirty = false;
  }
}

interface Found {
  readonly rel: string;
  readonly abs: string;
  readonly st: fs.BigIntStats;
}

/** The default hash cache file of a root: `<data dir>/hash-cache/<sha256 of its real path>.json`. */
export function defaultHashCacheFile(root: string): string {
  let real = path.resolve(root);
  try {
    real = fs.realpathSync(real);
  } catch {
    // a missing root is reported by buildManifest
  }
  return path.join(defaultDataDir(), 'hash-cache', `${sha256Hex(real).slice(0, 32)}.json`);
}

/** Hashes a file by streaming it. */
export async function hashFile(file: string, abortSignal?: AbortSignal): Promise<string> {
  const h = createHash('sha256');
  const stream = fs.createReadStream(file, { highWaterMark: 1 << 20, signal: abortSignal });
  for await (const chunk of stream) h.update(chunk as Buffer);
  return h.digest('hex');
}

/**
 * Refuses a file name a manifest cannot carry as it is, as the service would refuse it later:
 * control characters (a newline), and `\\`, which a manifest path reads as a separator (so
 * `a\\b.txt` would become, or collide with, `a/b.txt`).
 */
function checkFileName(name: string, abs: string): void {
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name)) {
    throw new PathEscapeError(
      abs,
      name,
      'is a file name with a control character (a line break?); rename it',
    );
  }
  if (name.includes('\\')) {
    throw new PathEscapeError(
      abs,
      name,
      'is a file name with a backslash, which a manifest reads as a directory separator; rename it',
    );
  }
}

/**
 * Builds the manifest of `root` (every regular file below it) or of an explicit file list.
 * Refuses, before reading anything, paths that are absolute outside the root, contain
 * `..`, or are symbolic links resolving outside the root; each error names the path.
 */
export async function buildManifest(
  root: string,
  options: BuildManifestOptions = {},
): Promise<BuiltManifest> {
  const signal = options.abortSignal;
  const rootAbs = path.resolve(root);
  let rootReal: string;
  try {
    rootReal = fs.realpathSync(rootAbs);
    if (!fs.statSync(rootReal).isDirectory()) throw new Error('not a directory');
  } catch {
    throw new ValidationError('root', root, 'must be an existing directory');
  }
  const found = new Map<string, Found>();
  const visitedDirs = new Set<string>();

  const checkLink = (abs: string, rel: string): string => {
    const real = fs.realpathSync(abs);
    if (real !== rootReal && !real.startsWith(rootReal + path.sep)) {
      throw new PathEscapeError(rel, abs, `is a symbolic link to ${JSON.stringify(real)}, outside the root`);
    }
    return real;
  };

  const addPath = async (abs: string, rel: string): Promise<void> => {
    const lst = await fs.promises.lstat(abs, { bigint: true });
    let st = lst;
    if (lst.isSymbolicLink()) {
      let real: string;
      try {
        real = checkLink(abs, rel);
      } catch (e) {
        if (e instanceof PathEscapeError) throw e;
        throw new ValidationError(rel, abs, 'is a broken symbolic link');
      }
      st = await fs.promises.stat(real, { bigint: true });
      if (st.isDirectory()) return walk(real, rel);
    }
    if (st.isDirectory()) return walk(abs, rel);
    if (st.isFile()) found.set(rel, { rel, abs, st });
  };

  const walk = async (dirAbs: string, relPrefix: string): Promise<void> => {
    signal?.throwIfAborted();
    const real = fs.realpathSync(dirAbs);
    if (visitedDirs.has(real)) return;
    visitedDirs.add(real);
    const dirents = await fs.promises.readdir(dirAbs, { withFileTypes: true });
    const subdirs: [string, string][] = [];
    const others: [string, string][] = [];
    for (const d of dirents) {
      const abs = path.join(dirAbs, d.name);
      const rel = relPrefix ? `${relPrefix}/${d.name}` : d.name;
      checkFileName(d.name, abs);
      if (d.isDirectory()) subdirs.push([abs, rel]);
      else others.push([abs, rel]);
    }
    await forEachLimited(others, 64, ([abs, rel]) => addPath(abs, rel), signal);
    for (const [abs, rel] of subdirs) await walk(abs, rel);
  };

  if (options.files) {
    const rels = options.files.map((f, i) => {
      const field = `files[${i}]`;
      const mapped = mapPath(f, options.pathMapping ?? []);
      if (isAbsoluteAnywhere(mapped) && !path.isAbsolute(mapped)) {
        throw new PathEscapeError(
          field,
          f,
          'is an absolute Windows path that no pathMapping rule maps; absolute and drive paths are refused ' +
            '(add a rule such as { from: "Z:\\projects", to: "/mnt/projects" })',
        );
      }
      return isAbsoluteAnywhere(mapped)
        ? relativeToRoot(rootAbs, mapped, field)
        : normaliseRelativePath(mapped, field);
    });
    for (const rel of rels) {
      const abs = path.join(rootAbs, ...rel.split('/'));
      try {
        await addPath(abs, rel);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT')
          throw new ValidationError('files', rel, 'does not exist');
        throw e;
      }
    }
  } else {
    await walk(rootAbs, '');
  }

  const cacheFile =
    options.hashCacheFile === false ? undefined : (options.hashCacheFile ?? defaultHashCacheFile(rootReal));
  const cache = new HashCache(cacheFile);
  cache.load();

  const list = [...found.values()].sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
  const entries: ManifestEntry[] = new Array(list.length);
  let filesFromCache = 0;
  let filesHashed = 0;
  let bytesHashed = 0;
  await forEachLimited(
    list,
    options.concurrency ?? 8,
    async (f, i) => {
      let sha = options.verify ? undefined : cache.get(f.abs, f.st);
      const fromCache = sha !== undefined;
      let content: Buffer | undefined;
      if (sha) filesFromCache++;
      else {
        if (Number(f.st.size) <= (options.wholeFileBytes ?? 4 << 20)) {
          content = await fs.promises.readFile(f.abs, { signal });
          sha = sha256Hex(content);
          // Changed since it was listed: hash what was read, but let the size decide below.
          if (content.length !== Number(f.st.size)) content = undefined;
        } else {
          sha = await hashFile(f.abs, signal);
        }
        cache.set(f.abs, f.st, sha);
        filesHashed++;
        bytesHashed += Number(f.st.size);
        options.onHashed?.({ filesHashed, bytesHashed });
      }
      const entry = { path: f.rel, sizeBytes: Number(f.st.size), sha256: sha };
      entries[i] = entry;
      options.onEntry?.(entry, f.abs, fromCache, content);
    },
    signal,
  );
  cache.save();
  const manifest: Manifest = { version: 1, files: entries };
  const json = canonicalManifestJson(manifest);
  return {
    manifest,
    id: sha256Hex(json),
    json,
    filesFromCache,
    filesHashed,
    bytesHashed,
    localPaths: new Map(list.map((f) => [f.rel, f.abs])),
  };
}
