import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { validateScaleSetSpec, type ScaleSetGroupSpec } from '@spillway/sdk/compute/scaleset';

// GIVEN a worker-burst group with a Blob mount (managed identity, file cache), an Azure Files
// share and a CIFS share (keys in Key Vault) and an NFS export
// WHEN its custom data is rendered and the start-up script really runs (under /bin/sh, with
// stand-ins for mount, blobfuse2 and curl on PATH that record what they are asked, the NFS
// mount failing)
// THEN the custom data holds no secret, each file system is mounted with its command (blobfuse2
// with its file cache, `mount -t nfs`, `mount -t cifs` with a root-only credentials file
// written from the Key Vault secret at boot), a failed mount is logged without stopping the
// worker, and the worker starts with SPILLWAY_MOUNT_<NAME> for each mount.

const VAULT_SECRET = 'a2V5LWZyb20tdmF1bHQtbmV2ZXItaW4tY3VzdG9tLWRhdGEtMDEyMzQ1Njc4OQ==';
const IDENTITY =
  '/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/render';

const STUB = (name: string, fail = ''): string => `#!/bin/sh
printf '%s %s\\n' ${name} "$*" >> "$STUB_LOG"
${name === 'blobfuse2' ? `printf 'blobfuse2 key-in-env=%s\\n' "\${AZURE_STORAGE_ACCESS_KEY:+yes}" >> "$STUB_LOG"` : ''}
${fail}
exit 0
`;

const CURL = `#!/bin/sh
for a in "$@"; do url="$a"; done
case "$url" in
  *169.254.169.254*) printf '{"access_token":"imds-token","expires_in":"3599"}' ;;
  *vault.azure.net*) printf '{"value":"${VAULT_SECRET}","id":"%s"}' "$url" ;;
  *) exit 22 ;;
esac
`;

describe('scale-set start-up mounts', () => {
  it('mounts each file system at boot from a secret-free script and starts the worker with SPILLWAY_MOUNT_<NAME>', () => {
    const spec: ScaleSetGroupSpec = {
      name: 'burst',
      vmSize: 'Standard_D16as_v5',
      maxDedicatedNodes: 0,
      maxSpotNodes: 4,
      image: { publisher: 'Canonical', offer: 'ubuntu-24_04-lts', sku: 'server' },
      resourceGroup: 'render-rg',
      location: 'westeurope',
      workerStartup: {
        renderManager: 'deadline',
        farmAddress: '/mnt/repo',
        command: 'env | grep ^SPILLWAY_MOUNT_ | sort > "$WORKER_ENV"',
      },
      mounts: [
        {
          name: 'textures',
          kind: 'azureBlob',
          source: 'https://studiotex.blob.core.windows.net/textures',
          credentialReference: `identity:${IDENTITY}`,
          fileCache: { timeoutSeconds: 600, maxSizeMb: 20000 },
        },
        {
          name: 'renders',
          kind: 'azureFiles',
          source: 'https://studiofiles.file.core.windows.net/renders',
          credentialReference: 'https://studio-kv.vault.azure.net/secrets/files-key',
          writable: true,
        },
        { name: 'projects', kind: 'nfs', source: 'nas.studio.internal:/export/projects' },
        {
          name: 'lib',
          kind: 'cifs',
          source: '//filer.studio.internal/library',
          username: 'render',
          credentialReference: 'https://studio-kv.vault.azure.net/secrets/filer-password',
        },
      ],
    };
    const script = Buffer.from(validateScaleSetSpec(spec).customData, 'base64').toString('utf8');
    expect(script).not.toContain(VAULT_SECRET);
    expect(script).toContain('blobfuse2 mount');
    expect(script).toContain('mount -t nfs');

    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-vmss-mounts-'));
    try {
      const bin = path.join(dir, 'bin');
      fs.mkdirSync(bin);
      fs.writeFileSync(
        path.join(bin, 'mount'),
        STUB('mount', 'case "$*" in *nfs*) echo "mount.nfs: Connection timed out" >&2; exit 32 ;; esac'),
        { mode: 0o755 },
      );
      fs.writeFileSync(path.join(bin, 'blobfuse2'), STUB('blobfuse2'), { mode: 0o755 });
      fs.writeFileSync(path.join(bin, 'curl'), CURL, { mode: 0o755 });
      fs.writeFileSync(path.join(dir, 'startup.sh'), script);
      const env = {
        PATH: `${bin}:/usr/bin:/bin`,
        STUB_LOG: path.join(dir, 'calls.log'),
        WORKER_ENV: path.join(dir, 'worker-env.txt'),
        SPILLWAY_MOUNTS_DIR: path.join(dir, 'mnt'),
        SPILLWAY_MOUNTS_STATE: path.join(dir, 'state'),
        SPILLWAY_BLOBFUSE_CACHE: path.join(dir, 'cache'),
      };
      const run = spawnSync('/bin/sh', [path.join(dir, 'startup.sh')], { env, encoding: 'utf8' });
      expect({ status: run.status, stderr: run.stderr }).toMatchObject({ status: 0 });
      // The failed NFS mount is named, and the worker still started.
      expect(run.stderr).toContain('spillway: mount projects failed');
      expect(fs.readFileSync(path.join(dir, 'mnt', 'nfs-projects.log'), 'utf8')).toContain(
        'Connection timed out',
      );

      const calls = fs.readFileSync(env.STUB_LOG, 'utf8');
      expect(calls).toContain(
        `blobfuse2 mount ${env.SPILLWAY_MOUNTS_DIR}/textures --config-file=${env.SPILLWAY_MOUNTS_STATE}/textures.yaml`,
      );
      expect(calls).toContain('blobfuse2 key-in-env=\n'); // identity: no key handed over
      expect(calls).toMatch(
        /mount -t nfs -o vers=3,[^ ]* nas\.studio\.internal:\/export\/projects .*\/mnt\/projects/,
      );
      expect(calls).toMatch(
        new RegExp(
          `mount -t cifs //studiofiles\\.file\\.core\\.windows\\.net/renders .*/mnt/renders -o vers=3\\.1\\.1,[^ ]*,credentials=${env.SPILLWAY_MOUNTS_STATE}/renders\\.cred`,
        ),
      );
      expect(calls).toMatch(/mount -t cifs \/\/filer\.studio\.internal\/library .*\/mnt\/lib .*credentials=/);
      expect(calls).not.toContain(VAULT_SECRET);

      const yaml = fs.readFileSync(path.join(env.SPILLWAY_MOUNTS_STATE, 'textures.yaml'), 'utf8');
      expect(yaml).toContain(`path: ${env.SPILLWAY_BLOBFUSE_CACHE}/textures`);
      expect(yaml).toContain('timeout-sec: 600');
      expect(yaml).toContain('max-size-mb: 20000');
      expect(yaml).toContain('mode: msi');
      expect(yaml).toContain(`resid: ${IDENTITY}`);

      // The Key Vault secret reached only root-only files.
      const cred = path.join(env.SPILLWAY_MOUNTS_STATE, 'renders.cred');
      expect(fs.readFileSync(cred, 'utf8')).toBe(`username=studiofiles\npassword=${VAULT_SECRET}\n`);
      expect(fs.statSync(cred).mode & 0o077).toBe(0);
      expect(fs.readFileSync(path.join(env.SPILLWAY_MOUNTS_STATE, 'lib.cred'), 'utf8')).toBe(
        `username=render\npassword=${VAULT_SECRET}\n`,
      );

      expect(fs.readFileSync(env.WORKER_ENV, 'utf8').trim().split('\n')).toEqual([
        `SPILLWAY_MOUNT_LIB=${env.SPILLWAY_MOUNTS_DIR}/lib`,
        `SPILLWAY_MOUNT_PROJECTS=${env.SPILLWAY_MOUNTS_DIR}/projects`,
        `SPILLWAY_MOUNT_RENDERS=${env.SPILLWAY_MOUNTS_DIR}/renders`,
        `SPILLWAY_MOUNT_TEXTURES=${env.SPILLWAY_MOUNTS_DIR}/textures`,
      ]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a file: reference, which an instance cannot read', () => {
    expect(() =>
      validateScaleSetSpec({
        name: 'burst',
        vmSize: 'Standard_D16as_v5',
        maxDedicatedNodes: 0,
        maxSpotNodes: 4,
        image: { publisher: 'Canonical', offer: 'ubuntu-24_04-lts', sku: 'server' },
        resourceGroup: 'render-rg',
        location: 'westeurope',
        workerStartup: { renderManager: 'deadline', farmAddress: '/mnt/repo' },
        mounts: [
          {
            name: 'renders',
            kind: 'azureFiles',
            source: 'https://studiofiles.file.core.windows.net/renders',
            credentialReference: 'file:/etc/spillway/files.key',
          },
        ],
      }),
    ).toThrow(/mounts\[0\]\.credentialReference.*Key Vault/);
  });
});
