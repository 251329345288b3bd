/**
 * Mounts per capacity group: shared file systems (a Blob container through blobfuse2, an
 * Azure Files share over SMB or NFS, an NFS export, a CIFS share) mounted on every node of a
 * group, so frames read scenes and textures where the studio keeps them instead of copying
 * them. Pure functions: validation, the Batch pool's `mountConfiguration`, the shell lines a
 * scale set's start-up runs, the environment each task gets, and the node-side paths.
 *
 * A mount never carries a secret. Credentials are named by reference (`credentialReference`):
 * `file:/path` (a file on the service's host, read when the Batch pool is created),
 * `https://<vault>.vault.azure.net/secrets/<name>` (read at boot by a scale-set instance with
 * its managed identity), or `identity:<user-assigned identity resource id>` (no secret at all:
 * Batch and blobfuse2 authenticate as the identity). Secrets resolved for Batch go into the
 * pool request only; they are never logged, stored in the group spec, or put in custom data.
 */
import { ValidationError } from '../errors';
import { looksLikeSecret } from '../compute/scaleset/startup';
import { shellQuote } from '../template/shell';

/** What kind of file system a mount is. */
export type MountKind = 'azureBlob' | 'azureFiles' | 'azureFilesNfs' | 'nfs' | 'cifs';

/** Every kind, in the order the docs list them. */
export const MOUNT_KINDS: readonly MountKind[] = ['azureBlob', 'azureFiles', 'azureFilesNfs', 'nfs', 'cifs'];

/** blobfuse2's file cache on a node (Blob mounts only). */
export interface BlobFileCache {
  /** How long a cached file is trusted before blobfuse2 checks the blob again. @default 120 */
  readonly timeoutSeconds?: number;
  /** Most megabytes the cache holds on the node's temporary disk. @default 0 (blobfuse2's default: 80% of the disk) */
  readonly maxSizeMb?: number;
}

/** One mount of a capacity group (proto `spillway.v1.Mount`). */
export interface MountSpec {
  /**
   * The mount's name: 1-32 of `[a-z0-9_-]`, starting with a letter, unique in the group. Tasks
   * find the mount in `SPILLWAY_MOUNT_<NAME>` (upper case, `-` as `_`); storage profiles name it.
   */
  readonly name: string;
  readonly kind: MountKind;
  /**
   * What is mounted:
   * - `azureBlob`: `https://<account>.blob.core.windows.net/<container>`
   * - `azureFiles`: `https://<account>.file.core.windows.net/<share>`
   * - `azureFilesNfs`: `<account>.file.core.windows.net:/<account>/<share>`
   * - `nfs`: `<host>:/<export>` (an on-prem NAS over VPN, an HPC Cache or Avere vFXT)
   * - `cifs`: `//<host>/<share>`
   */
  readonly source: string;
  /** Where on the node, below the mounts directory (`$AZ_BATCH_NODE_MOUNTS_DIR` on Batch). @default the name */
  readonly relativeMountPath?: string;
  /** `mount -o` options (blobfuse2 options for Blob). No credentials. @default the kind's usual options */
  readonly mountOptions?: string;
  /** How the nodes authenticate: `file:/path`, a Key Vault secret URI, or `identity:<resource id>`. @default none (NFS) */
  readonly credentialReference?: string;
  /** The CIFS user. Required for `cifs`; unused otherwise. */
  readonly username?: string;
  /** Frames may write outputs here: the preflight checks the node can write. @default false */
  readonly writable?: boolean;
  /** blobfuse2's file cache (Blob only). @default blobfuse2's defaults with a 120 s timeout */
  readonly fileCache?: BlobFileCache;
}

/** Batch's limit on mounts per pool. */
export const MAX_MOUNTS = 10;

const NAME = /^[a-z][a-z0-9_-]{0,31}$/;
const REL_SEGMENT = /^[A-Za-z0-9_.-]+$/;
const BLOB_SOURCE =
  /^https:\/\/([a-z0-9]{3,24})\.blob\.([a-z0-9.-]+)\/([a-z0-9](?:[a-z0-9-]{1,61}[a-z0-9])?)\/?$/;
const FILES_SOURCE =
  /^https:\/\/([a-z0-9]{3,24})\.file\.([a-z0-9.-]+)\/([a-z0-9](?:[a-z0-9-]{1,61}[a-z0-9])?)\/?$/;
const FILES_NFS_SOURCE =
  /^([a-z0-9]{3,24})\.file\.[a-z0-9.-]+:\/([a-z0-9]{3,24})\/([a-z0-9](?:[a-z0-9-]{1,61}[a-z0-9])?)$/;
const NFS_SOURCE = /^[A-Za-z0-9.-]+:\/[^\s'"`\\]*$/;
const CIFS_SOURCE = /^\/\/[A-Za-z0-9.-]+\/[^\s'"`\\]+$/;
const KEY_VAULT_REF =
  /^https:\/\/[a-z0-9-]{3,24}\.vault\.[a-z0-9.-]+\/secrets\/[A-Za-z0-9-]{1,127}(?:\/[0-9a-f]{32})?$/;
const IDENTITY_REF =
  /^identity:\/subscriptions\/[^/\s]+\/resourceGroups\/[^/\s]+\/providers\/Microsoft\.ManagedIdentity\/userAssignedIdentities\/[^/\s]+$/i;

/** What a credential reference names. */
export type CredentialReference =
  | { readonly kind: 'file'; readonly path: string }
  | { readonly kind: 'keyVault'; readonly uri: string }
  | { readonly kind: 'identity'; readonly resourceId: string };

/** Parses a credential reference (validated first by `validateMounts`). */
export function parseCredentialReference(ref: string): CredentialReference {
  if (ref.startsWith('file:')) return { kind: 'file', path: ref.slice('file:'.length) };
  if (ref.startsWith('identity:')) return { kind: 'identity', resourceId: ref.slice('identity:'.length) };
  return { kind: 'keyVault', uri: ref };
}

/** The mount's path below the mounts directory. */
export function relativeMountPathOf(mount: Pick<MountSpec, 'name' | 'relativeMountPath'>): string {
  return mount.relativeMountPath ?? mount.name;
}

/** `SPILLWAY_MOUNT_<NAME>`: where a task finds the mount. */
export function mountEnvName(name: string): string {
  return `SPILLWAY_MOUNT_${name.toUpperCase().replace(/-/g, '_')}`;
}

/** Account, and container or share, of an Azure Storage source. */
export function storageSourceParts(mount: Pick<MountSpec, 'kind' | 'source'>): {
  account: string;
  container: string;
  endpointSuffix: string;
} {
  const m =
    mount.kind === 'azureBlob'
      ? BLOB_SOURCE.exec(mount.source)
      : mount.kind === 'azureFiles'
        ? FILES_SOURCE.exec(mount.source)
        : undefined;
  if (!m) throw new ValidationError('mount.source', mount.source, `is not an ${mount.kind} source`);
  return { account: m[1]!, endpointSuffix: m[2]!, container: m[3]! };
}

const SOURCE_FORMS: Record<MountKind, { re: RegExp; example: string }> = {
  azureBlob: { re: BLOB_SOURCE, example: 'https://<account>.blob.core.windows.net/<container>' },
  azureFiles: { re: FILES_SOURCE, example: 'https://<account>.file.core.windows.net/<share>' },
  azureFilesNfs: {
    re: FILES_NFS_SOURCE,
    example: '<account>.file.core.windows.net:/<account>/<share>',
  },
  nfs: { re: NFS_SOURCE, example: 'nas.studio.internal:/export/projects' },
  cifs: { re: CIFS_SOURCE, example: '//filer.studio.internal/projects' },
};

/** Which credentials each kind takes. */
const CREDENTIALS: Record<MountKind, { required: boolean; identity: boolean; secret: boolean }> = {
  azureBlob: { required: true, identity: true, secret: true },
  azureFiles: { required: true, identity: false, secret: true },
  azureFilesNfs: { required: false, identity: false, secret: false },
  nfs: { required: false, identity: false, secret: false },
  cifs: { required: true, identity: false, secret: true },
};

/**
 * Checks a group's mounts: names and relative paths unique and safe, at most 10 (Batch's
 * limit), each source in its kind's form, the credential the kind needs (and none it does not
 * take) given by reference, and no credential anywhere else. Errors name the field under
 * `prefix` the way the caller wrote them (`naming`: `proto` on the wire, e.g.
 * `spec.mounts[1].relative_mount_path`; `sdk` for `MountSpec`s and config files, e.g.
 * `group.mounts[1].relativeMountPath`) and quote the value, except values that look like
 * secrets, which are never repeated.
 */
export function validateMounts(
  mounts: readonly MountSpec[],
  prefix = 'mounts',
  naming: MountFieldNames = 'sdk',
): void {
  if (!Array.isArray(mounts)) throw new ValidationError(prefix, mounts, 'must be a list of mounts');
  if (mounts.length > MAX_MOUNTS)
    throw new ValidationError(
      prefix,
      `${mounts.length} mounts`,
      `must hold at most ${MAX_MOUNTS} (Azure Batch's limit)`,
    );
  const names = new Set<string>();
  const paths = new Set<string>();
  mounts.forEach((m, i) => {
    const at = (f: string): string => `${prefix}[${i}].${mountFieldName(f, naming)}`;
    for (const f of ['name', 'source', 'relativeMountPath', 'mountOptions', 'username'] as const) {
      const v = m[f];
      if (v === undefined) continue;
      if (typeof v !== 'string') throw new ValidationError(at(f), v, 'must be a string');
      if (/[\0\n\r]/.test(v)) throw new ValidationError(at(f), v, 'must not contain NUL or line breaks');
      if (looksLikeSecret(v))
        throw new ValidationError(
          at(f),
          '<redacted>',
          'looks like a credential; name it in credentialReference (file:/path, a Key Vault secret URI or identity:<resource id>) instead',
        );
    }
    if (typeof m.name !== 'string' || !NAME.test(m.name))
      throw new ValidationError(
        at('name'),
        m.name,
        'must be 1-32 characters of a-z 0-9 _ -, starting with a letter',
      );
    if (names.has(m.name))
      throw new ValidationError(at('name'), m.name, 'is used by another mount of the group');
    names.add(m.name);
    if (!MOUNT_KINDS.includes(m.kind))
      throw new ValidationError(at('kind'), m.kind, `must be one of ${MOUNT_KINDS.join(', ')}`);
    const form = SOURCE_FORMS[m.kind as MountKind];
    if (typeof m.source !== 'string' || !form.re.test(m.source))
      throw new ValidationError(at('source'), m.source, `must be a ${m.kind} source like ${form.example}`);
    const rel = relativeMountPathOf(m);
    const segments = rel.split('/');
    if (rel.length > 128 || segments.some((s) => !REL_SEGMENT.test(s) || s === '.' || s === '..'))
      throw new ValidationError(
        at('relativeMountPath'),
        rel,
        'must be a relative path of segments of A-Z a-z 0-9 _ . - (no "..", no leading /), at most 128 characters',
      );
    const key = rel.toLowerCase();
    for (const other of paths)
      if (other === key || other.startsWith(key + '/') || key.startsWith(other + '/'))
        throw new ValidationError(at('relativeMountPath'), rel, 'overlaps another mount of the group');
    paths.add(key);
    if (m.mountOptions !== undefined && /[`$;|&<>]/.test(m.mountOptions))
      throw new ValidationError(at('mountOptions'), m.mountOptions, 'must not contain ` $ ; | & < or >');
    if (m.writable !== undefined && typeof m.writable !== 'boolean')
      throw new ValidationError(at('writable'), m.writable, 'must be true or false');
    validateCredential(m, at);
    if (m.kind === 'cifs' && !(m.username && /^[A-Za-z0-9._@\\-]{1,104}$/.test(m.username)))
      throw new ValidationError(
        at('username'),
        m.username,
        'is required for a cifs mount: the user to log in as',
      );
    if (m.fileCache !== undefined) {
      if (m.kind !== 'azureBlob')
        throw new ValidationError(at('fileCache'), m.fileCache, 'applies to azureBlob mounts only');
      const { timeoutSeconds, maxSizeMb } = m.fileCache;
      if (timeoutSeconds !== undefined && (!Number.isInteger(timeoutSeconds) || timeoutSeconds < 0))
        throw new ValidationError(
          at('fileCache.timeoutSeconds'),
          timeoutSeconds,
          'must be a whole number, 0 or more',
        );
      if (maxSizeMb !== undefined && (!Number.isInteger(maxSizeMb) || maxSizeMb < 0))
        throw new ValidationError(at('fileCache.maxSizeMb'), maxSizeMb, 'must be a whole number, 0 or more');
    }
  });
}

function validateCredential(m: MountSpec, at: (f: string) => string): void {
  const rules = CREDENTIALS[m.kind];
  const ref = m.credentialReference;
  if (ref === undefined || ref === '') {
    if (rules.required)
      throw new ValidationError(
        at('credentialReference'),
        ref ?? '',
        `is required for ${m.kind} mounts: ${rules.identity ? 'identity:<resource id>, ' : ''}file:/path or a Key Vault secret URI`,
      );
    return;
  }
  if (typeof ref !== 'string') throw new ValidationError(at('credentialReference'), ref, 'must be a string');
  const field = at('credentialReference');
  if (!rules.secret && !rules.identity)
    throw new ValidationError(
      field,
      ref.startsWith('file:') ? ref : '<given>',
      `is not taken by a ${m.kind} mount (it authenticates by host)`,
    );
  if (ref.startsWith('identity:')) {
    if (!rules.identity)
      throw new ValidationError(
        field,
        ref,
        `a managed identity cannot mount a ${m.kind} share; name a secret (file:/path or a Key Vault secret URI)`,
      );
    if (!IDENTITY_REF.test(ref))
      throw new ValidationError(
        field,
        ref,
        'must be identity:/subscriptions/<id>/resourceGroups/<rg>/providers/Microsoft.ManagedIdentity/userAssignedIdentities/<name>',
      );
    return;
  }
  if (ref.startsWith('file:')) {
    if (!/^file:\/[^\0\n\r]+$/.test(ref))
      throw new ValidationError(field, ref, 'must be file: and an absolute path on the service host');
    return;
  }
  if (looksLikeSecret(ref) || !KEY_VAULT_REF.test(ref))
    throw new ValidationError(
      field,
      looksLikeSecret(ref) ? '<redacted>' : ref,
      'must be a reference, not a secret: file:/path, https://<vault>.vault.azure.net/secrets/<name> or identity:<resource id>',
    );
}

/** How mount errors name fields: as `MountSpec` (and config files) spell them, or as the proto does. */
export type MountFieldNames = 'sdk' | 'proto';

/** Each mount field as `MountSpec` spells it, as `spillway.v1.Mount` does, and the `--mount` key that sets it. */
const MOUNT_FIELDS: readonly (readonly [sdk: string, proto: string, flag: string])[] = [
  ['name', 'name', 'NAME='],
  ['kind', 'kind', 'KIND:'],
  ['source', 'source', ':SOURCE'],
  ['relativeMountPath', 'relative_mount_path', 'path='],
  ['mountOptions', 'mount_options', 'options='],
  ['credentialReference', 'credential_reference', 'cred='],
  ['username', 'username', 'user='],
  ['writable', 'writable', 'writable'],
  ['fileCache', 'file_cache', 'cache-timeout= / cache-max-mb='],
  ['fileCache.timeoutSeconds', 'file_cache.timeout_seconds', 'cache-timeout='],
  ['fileCache.maxSizeMb', 'file_cache.max_size_mb', 'cache-max-mb='],
];

/** A mount field (as `MountSpec` spells it) named the `names` way. */
export function mountFieldName(field: string, names: MountFieldNames): string {
  return names === 'proto' ? (MOUNT_FIELDS.find(([sdk]) => sdk === field)?.[1] ?? field) : field;
}

/**
 * The `spillway pools create --mount` part that sets a wire field the service named
 * (`spec.mounts[1].relative_mount_path` → `--mount #2 path=`); undefined for other fields.
 */
export function mountFlagOf(field: string): string | undefined {
  const m = /^spec\.mounts(?:\[(\d+)\](?:\.(.+))?)?$/.exec(field);
  if (!m) return undefined;
  if (m[1] === undefined) return '--mount';
  const key = m[2] === undefined ? undefined : MOUNT_FIELDS.find(([, proto]) => proto === m[2])?.[2];
  return `--mount #${Number(m[1]) + 1}${key ? ` ${key}` : ''}`;
}

// ---------------------------------------------------------------------------------- Batch

/** Batch's `MountConfiguration` (one of four), as the REST API spells it. */
export interface BatchMountConfiguration {
  readonly azureBlobFileSystemConfiguration?: {
    readonly accountName: string;
    readonly containerName: string;
    readonly accountKey?: string;
    readonly sasKey?: string;
    readonly identityReference?: { readonly resourceId: string };
    readonly blobfuseOptions?: string;
    readonly relativeMountPath: string;
  };
  readonly azureFileShareConfiguration?: {
    readonly accountName: string;
    readonly azureFileUrl: string;
    readonly accountKey: string;
    readonly relativeMountPath: string;
    readonly mountOptions?: string;
  };
  readonly nfsMountConfiguration?: {
    readonly source: string;
    readonly relativeMountPath: string;
    readonly mountOptions?: string;
  };
  readonly cifsMountConfiguration?: {
    readonly username: string;
    readonly source: string;
    readonly relativeMountPath: string;
    readonly mountOptions?: string;
    readonly password: string;
  };
}

/** The default mount options of each kind. */
export const DEFAULT_MOUNT_OPTIONS: Readonly<Record<MountKind, string>> = {
  azureBlob: '-o allow_other -o attr_timeout=240 -o entry_timeout=240 -o negative_timeout=120',
  azureFiles: '-o vers=3.1.1,dir_mode=0777,file_mode=0777,serverino,nosharesock,actimeo=30',
  azureFilesNfs: '-o vers=4,minorversion=1,sec=sys,nconnect=4',
  nfs: '-o vers=3,hard,nconnect=4,actimeo=30',
  cifs: '-o vers=3.0,dir_mode=0777,file_mode=0777,serverino',
};

/** blobfuse2 options for the file cache (Batch passes them to the mount). */
function blobfuseOptions(m: MountSpec): string {
  const base = m.mountOptions ?? DEFAULT_MOUNT_OPTIONS.azureBlob;
  const cache = m.fileCache ?? {};
  const parts = [base, `--file-cache-timeout-in-seconds=${cache.timeoutSeconds ?? 120}`];
  if (cache.maxSizeMb) parts.push(`--cache-size-mb=${cache.maxSizeMb}`);
  return parts.join(' ');
}

/**
 * A mount as Batch's `MountConfiguration`. `secret` is the resolved credential (an account
 * key, a SAS for Blob, a password for CIFS) when the mount names one by `file:` or Key Vault;
 * with `identity:` no secret is needed. The result goes into the pool request only.
 */
export function toBatchMountConfiguration(m: MountSpec, secret?: string): BatchMountConfiguration {
  const relativeMountPath = relativeMountPathOf(m);
  const need = (what: string): string => {
    if (secret === undefined || secret === '')
      throw new ValidationError(
        `mount ${m.name}.credentialReference`,
        m.credentialReference ?? '',
        `resolved to no ${what}`,
      );
    return secret;
  };
  switch (m.kind) {
    case 'azureBlob': {
      const { account, container } = storageSourceParts(m);
      const ref = parseCredentialReference(m.credentialReference ?? '');
      const s = ref.kind === 'identity' ? undefined : need('account key or SAS').trim();
      const isSas = s !== undefined && /(^\??sv=|[?&]sig=|^sig=)/.test(s);
      return {
        azureBlobFileSystemConfiguration: {
          accountName: account,
          containerName: container,
          ...(ref.kind === 'identity' ? { identityReference: { resourceId: ref.resourceId } } : {}),
          ...(s !== undefined ? (isSas ? { sasKey: s.replace(/^\?/, '') } : { accountKey: s }) : {}),
          blobfuseOptions: blobfuseOptions(m),
          relativeMountPath,
        },
      };
    }
    case 'azureFiles': {
      const { account } = storageSourceParts(m);
      return {
        azureFileShareConfiguration: {
          accountName: account,
          azureFileUrl: m.source.replace(/\/$/, ''),
          accountKey: need('account key').trim(),
          relativeMountPath,
          mountOptions: m.mountOptions ?? DEFAULT_MOUNT_OPTIONS.azureFiles,
        },
      };
    }
    case 'azureFilesNfs':
    case 'nfs':
      return {
        nfsMountConfiguration: {
          source: m.source,
          relativeMountPath,
          mountOptions: m.mountOptions ?? DEFAULT_MOUNT_OPTIONS[m.kind],
        },
      };
    case 'cifs':
      return {
        cifsMountConfiguration: {
          username: m.username ?? '',
          source: m.source,
          relativeMountPath,
          mountOptions: m.mountOptions ?? DEFAULT_MOUNT_OPTIONS.cifs,
          password: need('password').trim(),
        },
      };
  }
}

/** The secret-free view of a Batch mount configuration (what GET pool answers with, and what may be logged). */
export function withoutSecrets(c: BatchMountConfiguration): BatchMountConfiguration {
  const strip = <T extends object>(o: T | undefined, keys: readonly string[]): T | undefined =>
    o && (Object.fromEntries(Object.entries(o).filter(([k]) => !keys.includes(k))) as T);
  return JSON.parse(
    JSON.stringify({
      azureBlobFileSystemConfiguration: strip(c.azureBlobFileSystemConfiguration, ['accountKey', 'sasKey']),
      azureFileShareConfiguration: strip(c.azureFileShareConfiguration, ['accountKey']),
      nfsMountConfiguration: c.nfsMountConfiguration,
      cifsMountConfiguration: strip(c.cifsMountConfiguration, ['password']),
    }),
  ) as BatchMountConfiguration;
}

// ------------------------------------------------------------------------------ the nodes

/** Where Batch (and the local engine) mount: `$AZ_BATCH_NODE_MOUNTS_DIR`. */
export const BATCH_MOUNTS_DIR_VAR = 'AZ_BATCH_NODE_MOUNTS_DIR';

/** Where a scale-set instance's start-up mounts. */
export const SCALE_SET_MOUNTS_DIR = '/mnt/spillway';

/**
 * The first lines of a task's command on a Batch-like node: `SPILLWAY_MOUNT_<NAME>` of each
 * mount, exported from `$AZ_BATCH_NODE_MOUNTS_DIR` (Batch sets no variable per mount, and
 * environment values are not expanded). Ends with a newline; empty without mounts.
 */
export function mountExports(mounts: readonly Pick<MountSpec, 'name' | 'relativeMountPath'>[]): string {
  return mounts
    .map((m) => `export ${mountEnvName(m.name)}="$${BATCH_MOUNTS_DIR_VAR}/${relativeMountPathOf(m)}"\n`)
    .join('');
}

/** The mount's kind in a Batch-style mount log name (`<type>-<dir>.log`). */
export function mountLogType(kind: MountKind): string {
  return kind === 'azureBlob'
    ? 'blobfuse'
    : kind === 'azureFiles'
      ? 'fshare'
      : kind === 'cifs'
        ? 'cifs'
        : 'nfs';
}

/**
 * `validateMounts`, and what a scale set cannot do: a `file:` credential names a file on the
 * service's host, which an instance cannot read. Errors name fields as `validateMounts` does.
 */
export function validateScaleSetMounts(
  mounts: readonly MountSpec[],
  prefix = 'mounts',
  naming: MountFieldNames = 'sdk',
): void {
  validateMounts(mounts, prefix, naming);
  mounts.forEach((m, i) => {
    const ref = m.credentialReference ? parseCredentialReference(m.credentialReference) : undefined;
    if (ref?.kind === 'file')
      throw new ValidationError(
        `${prefix}[${i}].${mountFieldName('credentialReference', naming)}`,
        m.credentialReference,
        "names a file on the service's host, which a scale-set instance cannot read; name a Key Vault secret URI (read at boot with the instance's managed identity)",
      );
  });
}

/**
 * Shell lines a scale-set instance runs at boot to mount the group's file systems under
 * `mountsDir`, and to export `SPILLWAY_MOUNT_<NAME>` for the worker it starts. No secret is
 * in them: an account key, SAS or password is read at boot from its Key Vault reference with
 * the instance's managed identity (`spillway_fetch_secret`, defined here) into a root-only
 * file; a Blob mount with an identity authenticates with it (blobfuse2 `mode: msi`). A mount
 * that fails is logged and left absent: the preflight names it before any frame is sent.
 */
export function renderMountCommands(
  mounts: readonly MountSpec[],
  options: { readonly mountsDir?: string } = {},
): string[] {
  if (mounts.length === 0) return [];
  validateScaleSetMounts(mounts);
  const dir = options.mountsDir ?? SCALE_SET_MOUNTS_DIR;
  const lines = [
    '# Spillway mounts: credentials come from Key Vault at boot, never from this script.',
    `SPILLWAY_MOUNTS_DIR="\${SPILLWAY_MOUNTS_DIR:-${dir}}"`,
    'SPILLWAY_MOUNTS_STATE="${SPILLWAY_MOUNTS_STATE:-/etc/spillway/mounts}"',
    'SPILLWAY_BLOBFUSE_CACHE="${SPILLWAY_BLOBFUSE_CACHE:-/mnt/resource/blobfuse2}"',
    'export SPILLWAY_MOUNTS_DIR',
    'spillway_kv_secret() {',
    '  token=$(curl -fsS -H Metadata:true "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fvault.azure.net" | sed -n \'s/.*"access_token":"\\([^"]*\\)".*/\\1/p\')',
    '  curl -fsS -H "Authorization: Bearer $token" "$1?api-version=7.4" | sed -n \'s/.*"value":"\\([^"]*\\)".*/\\1/p\'',
    '}',
    'spillway_mount_failed() { echo "spillway: mount $1 failed; the preflight will name it" >&2; }',
    'umask 077; mkdir -p "$SPILLWAY_MOUNTS_STATE"; umask 022',
  ];
  for (const m of mounts) {
    const rel = relativeMountPathOf(m);
    const target = `"$SPILLWAY_MOUNTS_DIR/${rel}"`;
    const log = `"$SPILLWAY_MOUNTS_DIR/${mountLogType(m.kind)}-${rel.replace(/\//g, '_')}.log"`;
    const secretFile = `"$SPILLWAY_MOUNTS_STATE/${m.name}.secret"`;
    const ref = m.credentialReference ? parseCredentialReference(m.credentialReference) : undefined;
    const fetchSecret =
      ref?.kind === 'keyVault'
        ? `(umask 077; spillway_kv_secret ${shellQuote(ref.uri)} > ${secretFile}) || spillway_mount_failed ${shellQuote(m.name)}`
        : undefined;
    lines.push(`# mount ${m.name} (${m.kind})`, `mkdir -p ${target}`);
    const opts = m.mountOptions ?? DEFAULT_MOUNT_OPTIONS[m.kind];
    const run = (cmd: string): string =>
      `{ ${cmd}; } > ${log} 2>&1 || spillway_mount_failed ${shellQuote(m.name)}`;
    switch (m.kind) {
      case 'azureBlob': {
        const { account, container, endpointSuffix } = storageSourceParts(m);
        const cfg = `"$SPILLWAY_MOUNTS_STATE/${m.name}.yaml"`;
        const cache = m.fileCache ?? {};
        const auth =
          ref?.kind === 'identity' ? [`  mode: msi`, `  resid: ${ref.resourceId}`] : [`  mode: key`];
        lines.push(
          ...(fetchSecret ? [fetchSecret] : []),
          `mkdir -p "$SPILLWAY_BLOBFUSE_CACHE/${m.name}"`,
          `cat > ${cfg} <<'SPILLWAY_EOF'`,
          'allow-other: true',
          'logging:',
          '  type: syslog',
          '  level: log_warning',
          'components:',
          '  - libfuse',
          '  - file_cache',
          '  - attr_cache',
          '  - azstorage',
          'libfuse:',
          '  attribute-expiration-sec: 240',
          '  entry-expiration-sec: 240',
          '  negative-entry-expiration-sec: 120',
          'file_cache:',
          '  path: @SPILLWAY_BLOBFUSE_CACHE@',
          `  timeout-sec: ${cache.timeoutSeconds ?? 120}`,
          ...(cache.maxSizeMb ? [`  max-size-mb: ${cache.maxSizeMb}`] : []),
          'attr_cache:',
          '  timeout-sec: 240',
          'azstorage:',
          '  type: block',
          `  account-name: ${account}`,
          `  container: ${container}`,
          `  endpoint: https://${account}.blob.${endpointSuffix}`,
          ...auth,
          'SPILLWAY_EOF',
          `sed -i "s#@SPILLWAY_BLOBFUSE_CACHE@#$SPILLWAY_BLOBFUSE_CACHE/${m.name}#" ${cfg}`,
          run(
            ref?.kind === 'identity'
              ? `blobfuse2 mount ${target} --config-file=${cfg}`
              : // The key reaches blobfuse2 through its environment, never a file or a command line.
                `AZURE_STORAGE_ACCESS_KEY="$(cat ${secretFile} 2>/dev/null)" blobfuse2 mount ${target} --config-file=${cfg}`,
          ),
        );
        break;
      }
      case 'azureFiles': {
        const { account, container } = storageSourceParts(m);
        const host = new URL(m.source).host;
        const cred = `"$SPILLWAY_MOUNTS_STATE/${m.name}.cred"`;
        lines.push(
          fetchSecret!,
          `(umask 077; printf 'username=%s\\npassword=%s\\n' ${shellQuote(account)} "$(cat ${secretFile} 2>/dev/null)" > ${cred})`,
          run(`mount -t cifs ${shellQuote(`//${host}/${container}`)} ${target} ${opts},credentials=${cred}`),
        );
        break;
      }
      case 'azureFilesNfs':
      case 'nfs':
        lines.push(run(`mount -t nfs ${opts} ${shellQuote(m.source)} ${target}`));
        break;
      case 'cifs': {
        const cred = `"$SPILLWAY_MOUNTS_STATE/${m.name}.cred"`;
        lines.push(
          fetchSecret!,
          `(umask 077; printf 'username=%s\\npassword=%s\\n' ${shellQuote(m.username ?? '')} "$(cat ${secretFile} 2>/dev/null)" > ${cred})`,
          run(`mount -t cifs ${shellQuote(m.source)} ${target} ${opts},credentials=${cred}`),
        );
        break;
      }
    }
    lines.push(`export ${mountEnvName(m.name)}="$SPILLWAY_MOUNTS_DIR/${rel}"`);
  }
  return lines;
}

/** A stable text of a group's mounts (defaults filled in), to tell whether two specs mount the same. */
export function canonicalMounts(mounts: readonly MountSpec[]): string {
  return JSON.stringify(
    [...mounts]
      .map((m) => ({
        name: m.name,
        kind: m.kind,
        source: m.source,
        relativeMountPath: relativeMountPathOf(m),
        mountOptions: m.mountOptions ?? '',
        credentialReference: m.credentialReference ?? '',
        username: m.username ?? '',
        writable: m.writable ?? false,
        fileCache: m.fileCache ? [m.fileCache.timeoutSeconds ?? 0, m.fileCache.maxSizeMb ?? 0] : null,
      }))
      .sort((a, b) => a.name.localeCompare(b.name)),
  );
}

/** `spillway pools create --mount` keys after the source, and the mount field each sets. */
const FLAG_KEYS = ['path', 'options', 'cred', 'user', 'writable', 'cache-timeout', 'cache-max-mb'] as const;

/**
 * A mount from the CLI's `--mount` text: `NAME=KIND:SOURCE[;KEY=VALUE...]`, KIND one of
 * `azure-blob`, `azure-files`, `azure-files-nfs`, `nfs`, `cifs` (or as `MountKind` spells it),
 * keys `path=REL`, `options=OPTS` (may hold `,` and `=`), `cred=REF` (a reference, never a
 * secret), `user=U`, `writable`, `cache-timeout=S`, `cache-max-mb=M`. Only the shape is
 * checked here; `validateMounts` (run by the service) checks the values.
 * E.g. `projects=nfs:nas.studio.internal:/export/projects;writable`.
 */
export function parseMountFlag(text: string, field = '--mount'): MountSpec {
  const [head = '', ...rest] = text.split(';');
  const m = /^([^=]+)=([A-Za-z-]+):(.+)$/.exec(head.trim());
  if (!m)
    throw new ValidationError(
      field,
      text,
      'must be NAME=KIND:SOURCE[;path=REL;options=OPTS;cred=REF;user=U;writable], e.g. projects=nfs:nas:/export/projects;writable',
    );
  const kindText = m[2]!.toLowerCase().replace(/-/g, '');
  const kind = MOUNT_KINDS.find((k) => k.toLowerCase() === kindText);
  if (!kind)
    throw new ValidationError(
      `${field} kind`,
      m[2],
      'must be one of azure-blob, azure-files, azure-files-nfs, nfs, cifs',
    );
  let mount: MountSpec = { name: m[1]!.trim(), kind, source: m[3]!.trim() };
  for (const part of rest) {
    if (part.trim() === '') continue;
    const eq = part.indexOf('=');
    const key = (eq < 0 ? part : part.slice(0, eq)).trim();
    const value = eq < 0 ? undefined : part.slice(eq + 1).trim();
    if (!(FLAG_KEYS as readonly string[]).includes(key))
      throw new ValidationError(`${field} ${mount.name}`, key, `is not a key: use ${FLAG_KEYS.join(', ')}`);
    if ((key === 'writable') !== (value === undefined))
      throw new ValidationError(
        `${field} ${mount.name}.${key}`,
        value ?? '',
        key === 'writable' ? 'takes no value' : 'needs a value (KEY=VALUE)',
      );
    const whole = (v: string): number => {
      if (!/^\d{1,9}$/.test(v))
        throw new ValidationError(`${field} ${mount.name}.${key}`, v, 'must be a whole number');
      return Number(v);
    };
    if (key === 'path') mount = { ...mount, relativeMountPath: value! };
    else if (key === 'options') mount = { ...mount, mountOptions: value! };
    else if (key === 'cred') mount = { ...mount, credentialReference: value! };
    else if (key === 'user') mount = { ...mount, username: value! };
    else if (key === 'writable') mount = { ...mount, writable: true };
    else if (key === 'cache-timeout')
      mount = { ...mount, fileCache: { ...mount.fileCache, timeoutSeconds: whole(value!) } };
    else mount = { ...mount, fileCache: { ...mount.fileCache, maxSizeMb: whole(value!) } };
  }
  return mount;
}
