import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ValidationError } from '../../errors';
import {
  CUSTOM_DATA_MAX_BYTES,
  encodeCustomData,
  looksLikeSecret,
  renderWorkerStartup,
  shellQuote,
  type WorkerStartup,
} from './startup';

const deadline: WorkerStartup = {
  renderManager: 'deadline',
  farmAddress: 'rcs.studio.internal:4433',
  groups: ['cloud', 'gpu'],
  pools: ['burst'],
  secretReference: 'https://studio.vault.azure.net/secrets/rcs-cert',
};

describe('looksLikeSecret', () => {
  // GIVEN values from start-up specs WHEN checked THEN credentials are recognised, ordinary settings are not
  it.each([
    ['DefaultEndpointsProtocol=https;AccountName=a;AccountKey=abc123==', true],
    ['https://a.blob.core.windows.net/c?sv=2022&sig=abcdEFGH%3D', true],
    ['Bearer eyJhbGciOi.eyJzdWIiOi.sig', true],
    ['eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.x', true],
    ['password=hunter2', true],
    ['-----BEGIN RSA PRIVATE KEY-----\nMII...', true],
    ['Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MEFCQ0RFRkdISUpLTE1OT1BRUlNUVVZXWFla0123456789abcd==', true],
    ['rcs.studio.internal:4433', false],
    ['/mnt/deadline/repository/with/a/rather/long/path/that/goes/on/and/on/forever', false],
    ['https://studio.vault.azure.net/secrets/rcs-cert', false],
    ['blender -b scene.blend -o //out_#### -a', false],
  ])('%s -> %s', (value, expected) => {
    expect(looksLikeSecret(value)).toBe(expected);
  });
});

describe('shellQuote', () => {
  // GIVEN awkward strings WHEN quoted and echoed by sh THEN they come back unchanged
  it.each([["it's"], ['$HOME `id` "x"'], ['a b\tc'], ['']])('%j round-trips through sh', (value) => {
    expect(execFileSync('/bin/sh', ['-c', `printf %s ${shellQuote(value)}`], { encoding: 'utf8' })).toBe(
      value,
    );
  });
});

describe('renderWorkerStartup', () => {
  it('renders a Deadline worker joining through the RCS, with groups and pools, and no secret', () => {
    // GIVEN a Deadline start-up spec WHEN rendered
    const script = renderWorkerStartup(deadline);
    // THEN it is a shell script that connects, sets groups and pools and starts the worker
    expect(script.startsWith('#!/bin/sh\n')).toBe(true);
    expect(script).toContain('-ChangeRepository Proxy rcs.studio.internal:4433 /run/spillway-rcs-client.pfx');
    expect(script).toContain(`-SetGroupsForSlave "$WORKER" cloud,gpu`);
    expect(script).toContain(`-SetPoolsForSlave "$WORKER" burst`);
    expect(script).toContain('deadlineworker" -nogui');
    expect(script).toContain('SPILLWAY_SECRET_REFERENCE=https://studio.vault.azure.net/secrets/rcs-cert');
    // AND it parses as sh
    execFileSync('/bin/sh', ['-n', '-c', script]);
  });

  it('renders a Deadline worker on a mounted repository', () => {
    const script = renderWorkerStartup({
      renderManager: 'deadline',
      farmAddress: '/mnt/DeadlineRepository10',
    });
    expect(script).toContain('-ChangeRepository Direct /mnt/DeadlineRepository10');
    expect(script).not.toContain('SetGroupsForSlave');
  });

  it('renders an OpenCue RQD host whose rqd.conf names the Cuebot, its port, the facility and the tags', () => {
    // GIVEN an OpenCue start-up spec WHEN rendered and run with a stand-in rqd on PATH
    const script = renderWorkerStartup({
      renderManager: 'opencue',
      farmAddress: 'cuebot.studio:8443',
      facility: 'azure',
      groups: ['burst', 'gpu'],
    });
    expect(script).toContain('SPILLWAY_FACILITY=azure');
    execFileSync('/bin/sh', ['-n', '-c', script]);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rqd-conf-'));
    try {
      fs.writeFileSync(path.join(dir, 'rqd'), '#!/bin/sh\n[ "$1" = -c ] && cat "$2"\n', { mode: 0o755 });
      const out = execFileSync('/bin/sh', ['-c', script], {
        encoding: 'utf8',
        env: { PATH: `${dir}:/usr/bin:/bin`, RQD_CONFIG_FILE: path.join(dir, 'etc', 'rqd.conf') },
      });
      // THEN RQD gets the keys it reads from [Override] (rqconstants.py)
      expect(out.split('\n')).toEqual([
        '[Override]',
        'OVERRIDE_CUEBOT=cuebot.studio',
        'CUEBOT_GRPC_PORT=8443',
        'DEFAULT_FACILITY=azure',
        'RQD_TAGS=burst gpu',
        '',
      ]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('with the eviction notice, runs the worker beside a watcher and still parses as sh', () => {
    // GIVEN a Spot start-up WHEN rendered THEN the worker runs in the background with the watcher
    const script = renderWorkerStartup(deadline, { evictionNotice: true });
    expect(script).toContain('spillway_worker &');
    expect(script).toContain('/metadata/scheduledevents?api-version=2020-07-01');
    expect(script).toContain('exec "$DEADLINE_BIN/deadlineworker" -nogui -name "$WORKER"');
    execFileSync('/bin/sh', ['-n', '-c', script]);
    // AND without it the script is the plain one
    expect(renderWorkerStartup(deadline)).not.toContain('scheduledevents');
  });

  it('runs a custom command with the farm settings in the environment', () => {
    // GIVEN a custom command WHEN rendered and run THEN it sees the settings
    const script = renderWorkerStartup({
      renderManager: 'opencue',
      farmAddress: "cue'bot:8443",
      command: 'echo "$SPILLWAY_FARM_ADDRESS|$SPILLWAY_GROUPS"',
      groups: ['a', 'b'],
    });
    expect(execFileSync('/bin/sh', ['-c', script], { encoding: 'utf8' })).toBe("cue'bot:8443|a,b\n");
  });

  // GIVEN bad start-up specs WHEN rendered THEN a ValidationError names the field
  it.each<[string, Partial<WorkerStartup>, string, string]>([
    [
      'unknown render manager',
      { renderManager: 'tractor' as WorkerStartup['renderManager'] },
      'workerStartup.renderManager',
      '"tractor"',
    ],
    ['empty farm address', { farmAddress: ' ' }, 'workerStartup.farmAddress', '" "'],
    ['secret as reference', { secretReference: 'hunter2' }, 'workerStartup.secretReference', '"hunter2"'],
    [
      'password in the address',
      { farmAddress: 'https://admin:hunter2@rcs:4433' },
      'workerStartup.farmAddress',
      '<redacted>',
    ],
    ['bad group name', { groups: ['ok', 'not ok'] }, 'workerStartup.groups[1]', '"not ok"'],
    ['bad pool name', { pools: ['x;rm'] }, 'workerStartup.pools[0]', '"x;rm"'],
  ])('refuses %s', (_what, change, field, quoted) => {
    const err = (() => {
      try {
        renderWorkerStartup({ ...deadline, ...change });
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).field).toBe(field);
    expect((err as Error).message).toContain(quoted);
    expect((err as Error).message).not.toContain('hunter2@');
  });
});

describe('encodeCustomData', () => {
  it('accepts exactly the limit and refuses one byte more, naming the size', () => {
    expect(Buffer.from(encodeCustomData('x'.repeat(CUSTOM_DATA_MAX_BYTES)), 'base64').length).toBe(
      CUSTOM_DATA_MAX_BYTES,
    );
    expect(() => encodeCustomData('x'.repeat(CUSTOM_DATA_MAX_BYTES + 1), 'spec.workerStartup')).toThrow(
      /^spec\.workerStartup: renders to 65536 bytes of custom data, over Azure's limit of 65535/,
    );
  });

  it('counts bytes, not characters', () => {
    expect(() => encodeCustomData('é'.repeat(40_000))).toThrow(ValidationError);
  });
});
