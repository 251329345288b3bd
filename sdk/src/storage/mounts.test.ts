import { ValidationError } from '../errors';
import {
  parseMountFlag,
  mountEnvName,
  mountExports,
  toBatchMountConfiguration,
  mountFlagOf,
  validateMounts,
  withoutSecrets,
  type MountSpec,
} from './mounts';
import { mountFromWire, mountToWire } from './mounts-wire';

const IDENTITY =
  'identity:/subscriptions/0000/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/render';
const ok: MountSpec[] = [
  {
    name: 'textures',
    kind: 'azureBlob',
    source: 'https://tex.blob.core.windows.net/textures',
    credentialReference: IDENTITY,
  },
  {
    name: 'renders',
    kind: 'azureFiles',
    source: 'https://files.file.core.windows.net/renders',
    credentialReference: 'file:/etc/k',
  },
  { name: 'fnfs', kind: 'azureFilesNfs', source: 'files.file.core.windows.net:/files/projects' },
  { name: 'projects', kind: 'nfs', source: 'nas.studio.internal:/export/projects', writable: true },
  {
    name: 'lib',
    kind: 'cifs',
    source: '//filer/library',
    username: 'render',
    credentialReference: 'https://studio-kv.vault.azure.net/secrets/filer',
  },
];

function errorOf(mounts: MountSpec[]): ValidationError {
  try {
    validateMounts(mounts, 'spec.mounts');
  } catch (e) {
    if (e instanceof ValidationError) return e;
    throw e;
  }
  throw new Error('expected a ValidationError');
}

describe('validateMounts', () => {
  it('accepts one mount of each kind with the credential it takes', () => {
    expect(() => validateMounts(ok)).not.toThrow();
  });

  // GIVEN one bad mount WHEN validated THEN the error names the field and quotes the value (never a secret)
  it.each<[string, MountSpec, string, string]>([
    ['a bad name', { ...ok[3]!, name: 'Projects' }, 'spec.mounts[0].name', 'Projects'],
    ['an NFS source without an export', { ...ok[3]!, source: 'nas' }, 'spec.mounts[0].source', 'nas'],
    [
      'a Blob source that is not a container URL',
      { ...ok[0]!, source: 'https://tex.blob.core.windows.net/' },
      'spec.mounts[0].source',
      'https://tex.blob.core.windows.net/',
    ],
    [
      'a path escaping the mounts directory',
      { ...ok[3]!, relativeMountPath: '../etc' },
      'spec.mounts[0].relativeMountPath',
      '../etc',
    ],
    [
      'an absolute path',
      { ...ok[3]!, relativeMountPath: '/mnt/x' },
      'spec.mounts[0].relativeMountPath',
      '/mnt/x',
    ],
    [
      'Azure Files without a credential',
      { ...ok[1]!, credentialReference: undefined },
      'spec.mounts[0].credentialReference',
      '',
    ],
    [
      'an identity for Azure Files',
      { ...ok[1]!, credentialReference: IDENTITY },
      'spec.mounts[0].credentialReference',
      IDENTITY,
    ],
    [
      'a credential for NFS',
      { ...ok[3]!, credentialReference: 'file:/etc/k' },
      'spec.mounts[0].credentialReference',
      'file:/etc/k',
    ],
    [
      'an account key given as the reference',
      { ...ok[1]!, credentialReference: 'c3RvcmFnZS1rZXktZm9yLXRoZS10ZXN0LW9ubHktMDEyMzQ1Njc4OUFCQ0RFRg==' },
      'spec.mounts[0].credentialReference',
      '<redacted>',
    ],
    [
      'a SAS in the options',
      { ...ok[0]!, mountOptions: '-o sas=sv=2022&sig=abcdef' },
      'spec.mounts[0].mountOptions',
      '<redacted>',
    ],
    [
      'shell in the options',
      { ...ok[3]!, mountOptions: '-o vers=3; rm -rf /' },
      'spec.mounts[0].mountOptions',
      '-o vers=3; rm -rf /',
    ],
    ['CIFS without a user', { ...ok[4]!, username: undefined }, 'spec.mounts[0].username', 'undefined'],
    [
      'a file cache on NFS',
      { ...ok[3]!, fileCache: { timeoutSeconds: 5 } },
      'spec.mounts[0].fileCache',
      '{"timeoutSeconds":5}',
    ],
  ])('GIVEN %s THEN %s', (_what, mount, field, value) => {
    const err = errorOf([mount]);
    expect(err.field).toBe(field);
    expect(err.message).toContain(value === 'undefined' ? field : value);
    if (value === '<redacted>') expect(err.message).not.toMatch(/sig=abcdef|MDEyMzQ1/);
  });

  it('refuses the same name, overlapping paths, and more than 10 mounts', () => {
    expect(errorOf([ok[3]!, { ...ok[2]!, name: 'projects' }]).field).toBe('spec.mounts[1].name');
    expect(
      errorOf([
        { ...ok[3]!, relativeMountPath: 'a' },
        { ...ok[2]!, relativeMountPath: 'a/b' },
      ]).field,
    ).toBe('spec.mounts[1].relativeMountPath');
    const many = Array.from({ length: 11 }, (_, i) => ({ ...ok[3]!, name: `m${i}` }));
    expect(errorOf(many).field).toBe('spec.mounts');
  });
});

describe('mount field names', () => {
  it.each<[string, MountSpec, string, string]>([
    ['a bad path', { ...ok[3]!, relativeMountPath: '../x' }, 'relativeMountPath', 'relative_mount_path'],
    ['bad options', { ...ok[3]!, mountOptions: 'ro;rm' }, 'mountOptions', 'mount_options'],
    [
      'a missing credential',
      { ...ok[0]!, credentialReference: undefined },
      'credentialReference',
      'credential_reference',
    ],
    [
      'a bad cache size',
      { ...ok[0]!, fileCache: { maxSizeMb: -1 } },
      'fileCache.maxSizeMb',
      'file_cache.max_size_mb',
    ],
  ])('GIVEN %s THEN sdk names %s and proto names %s', (_what, mount, sdk, proto) => {
    const named = (names: 'sdk' | 'proto'): string | undefined => {
      try {
        validateMounts([ok[4]!, mount], 'spec.mounts', names);
      } catch (e) {
        return (e as ValidationError).field;
      }
      return undefined;
    };
    expect(named('sdk')).toBe(`spec.mounts[1].${sdk}`);
    expect(named('proto')).toBe(`spec.mounts[1].${proto}`);
  });

  it.each<[string, string | undefined]>([
    ['spec.mounts', '--mount'],
    ['spec.mounts[0]', '--mount #1'],
    ['spec.mounts[1].relative_mount_path', '--mount #2 path='],
    ['spec.mounts[0].credential_reference', '--mount #1 cred='],
    ['spec.mounts[2].file_cache.timeout_seconds', '--mount #3 cache-timeout='],
    ['spec.mounts[0].kind', '--mount #1 KIND:'],
    ['spec.vm_size', undefined],
    ['spec.mountsx', undefined],
  ])('the wire field %s is set with %s', (field, flag) => {
    expect(mountFlagOf(field)).toBe(flag);
  });
});

describe('Batch mount configuration', () => {
  it.each<[MountSpec, string | undefined, Record<string, unknown>]>([
    [
      ok[0]!,
      undefined,
      {
        azureBlobFileSystemConfiguration: expect.objectContaining({
          accountName: 'tex',
          containerName: 'textures',
          identityReference: { resourceId: IDENTITY.slice(9) },
        }),
      },
    ],
    [
      { ...ok[0]!, credentialReference: 'file:/k' },
      '?sv=2022-11-02&sig=x',
      { azureBlobFileSystemConfiguration: expect.objectContaining({ sasKey: 'sv=2022-11-02&sig=x' }) },
    ],
    [
      { ...ok[0]!, credentialReference: 'file:/k' },
      'KEY==',
      { azureBlobFileSystemConfiguration: expect.objectContaining({ accountKey: 'KEY==' }) },
    ],
    [
      ok[1]!,
      'KEY==',
      {
        azureFileShareConfiguration: expect.objectContaining({
          accountName: 'files',
          azureFileUrl: 'https://files.file.core.windows.net/renders',
          accountKey: 'KEY==',
        }),
      },
    ],
    [
      ok[2]!,
      undefined,
      {
        nfsMountConfiguration: expect.objectContaining({
          source: 'files.file.core.windows.net:/files/projects',
          mountOptions: expect.stringContaining('vers=4,minorversion=1'),
        }),
      },
    ],
    [
      ok[4]!,
      'pw',
      {
        cifsMountConfiguration: expect.objectContaining({
          username: 'render',
          password: 'pw',
          relativeMountPath: 'lib',
        }),
      },
    ],
  ])('maps %j', (mount, secret, want) => {
    const c = toBatchMountConfiguration(mount, secret);
    expect(c).toEqual(want);
    if (secret) expect(JSON.stringify(withoutSecrets(c))).not.toContain(secret.replace(/^\?/, ''));
  });

  it('needs the secret a reference names', () => {
    expect(() => toBatchMountConfiguration(ok[1]!)).toThrow(/resolved to no account key/);
  });
});

describe('task environment', () => {
  it('exports SPILLWAY_MOUNT_<NAME> from the mounts directory', () => {
    expect(mountEnvName('my-proj')).toBe('SPILLWAY_MOUNT_MY_PROJ');
    expect(mountExports([{ name: 'projects' }, { name: 'lib', relativeMountPath: 'lib/shared' }])).toBe(
      'export SPILLWAY_MOUNT_PROJECTS="$AZ_BATCH_NODE_MOUNTS_DIR/projects"\n' +
        'export SPILLWAY_MOUNT_LIB="$AZ_BATCH_NODE_MOUNTS_DIR/lib/shared"\n',
    );
  });

  it('round-trips the wire', () => {
    for (const m of ok) expect(mountFromWire(mountToWire(m))).toEqual(m);
  });
});

describe('parseMountFlag (spillway pools create --mount)', () => {
  it.each<[string, unknown]>([
    [
      'projects=nfs:nas.studio.internal:/export/projects;writable',
      { name: 'projects', kind: 'nfs', source: 'nas.studio.internal:/export/projects', writable: true },
    ],
    [
      'tex=azure-blob:https://acct.blob.core.windows.net/textures;cred=identity:/subscriptions/s/resourceGroups/g/providers/Microsoft.ManagedIdentity/userAssignedIdentities/i;cache-timeout=300;cache-max-mb=20000',
      {
        name: 'tex',
        kind: 'azureBlob',
        source: 'https://acct.blob.core.windows.net/textures',
        credentialReference:
          'identity:/subscriptions/s/resourceGroups/g/providers/Microsoft.ManagedIdentity/userAssignedIdentities/i',
        fileCache: { timeoutSeconds: 300, maxSizeMb: 20000 },
      },
    ],
    [
      'cache=nfs:hpccache.internal:/show;path=show/cache;options=vers=3,nconnect=4',
      {
        name: 'cache',
        kind: 'nfs',
        source: 'hpccache.internal:/show',
        relativeMountPath: 'show/cache',
        mountOptions: 'vers=3,nconnect=4',
      },
    ],
    [
      'lib=azureFiles:https://acct.file.core.windows.net/lib;cred=file:/etc/spillway/files.key',
      {
        name: 'lib',
        kind: 'azureFiles',
        source: 'https://acct.file.core.windows.net/lib',
        credentialReference: 'file:/etc/spillway/files.key',
      },
    ],
  ])('%s', (text, want) => {
    expect(parseMountFlag(text)).toEqual(want);
  });

  it.each<[string, string]>([
    ['projects', '--mount'],
    ['projects=nfs', '--mount'],
    ['projects=zfs:nas:/x', '--mount kind'],
    ['projects=nfs:nas:/x;colour=blue', '--mount projects'],
    ['projects=nfs:nas:/x;writable=yes', '--mount projects.writable'],
    ['projects=nfs:nas:/x;path', '--mount projects.path'],
    ['t=azure-blob:https://a.blob.core.windows.net/c;cache-timeout=soon', '--mount t.cache-timeout'],
  ])('refuses %s naming %s', (text, field) => {
    const err = (() => {
      try {
        parseMountFlag(text);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).field).toBe(field);
  });
});
