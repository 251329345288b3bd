import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { MountSpec } from '../../storage/mounts';
import { mountCheckCommand, mountFailures } from './mount-check';

// GIVEN a node's mounts directory with one share present and writable, one read-only and
// one missing WHEN the mount check runs there (real python3) THEN each failure names its mount.
describe('the mounts preflight check', () => {
  const mounts: MountSpec[] = [
    { name: 'projects', kind: 'nfs', source: 'nas:/export/projects', writable: true },
    { name: 'library', kind: 'nfs', source: 'nas:/export/library' },
    { name: 'renders', kind: 'nfs', source: 'nas:/export/renders', relativeMountPath: 'out/renders' },
  ];

  it('passes present mounts and names a missing one', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spillway-mount-check-'));
    try {
      fs.mkdirSync(path.join(dir, 'projects'));
      fs.mkdirSync(path.join(dir, 'library'));
      const stdout = execFileSync('/bin/sh', ['-c', mountCheckCommand(mounts)], {
        env: { PATH: process.env.PATH, AZ_BATCH_NODE_MOUNTS_DIR: dir },
        encoding: 'utf8',
      });
      const failures = mountFailures(mounts, stdout);
      expect(failures).toEqual([
        {
          subject: 'mount "renders" (nfs nas:/export/renders at $AZ_BATCH_NODE_MOUNTS_DIR/out/renders)',
          message: expect.stringMatching(
            /^mount "renders" \(nfs nas:\/export\/renders at \$AZ_BATCH_NODE_MOUNTS_DIR\/out\/renders\): not mounted/,
          ),
        },
      ]);
      expect(fs.readdirSync(path.join(dir, 'projects'))).toEqual([]); // the write probe cleaned up
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('has no answer from output that is not its own', () => {
    expect(mountFailures(mounts, 'python3: not found\n')).toBeUndefined();
  });
});
