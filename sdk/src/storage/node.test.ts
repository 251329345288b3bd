import { execFileSync } from 'node:child_process';
import {
  buildEnterCommand,
  buildPreparationCommand,
  buildReleaseCommand,
  shellQuote,
  wrapRenderCommand,
} from './node';

describe('shellQuote', () => {
  test.each<[string]>([["it's"], ['$HOME `id` "x"'], ['a b\nc'], ['']])(
    'GIVEN %j THEN sh reads it back unchanged',
    (s) => {
      expect(execFileSync('/bin/sh', ['-c', `printf %s ${shellQuote(s)}`]).toString()).toBe(s);
    },
  );
});

describe('buildPreparationCommand', () => {
  const id = 'a'.repeat(64);
  const base = {
    scriptUrl: 'https://acct.blob.core.windows.net/assets/tools/f.py?sv=1&sig=SCRIPTSIG',
    manifestUrl: 'https://acct.blob.core.windows.net/assets/manifests/x.json?sv=1&sig=MANIFESTSIG',
    manifestId: id,
    contentContainerUrl: 'https://acct.blob.core.windows.net/assets?sv=1&sig=CONTENTSIG',
  };

  test('GIVEN SAS URLs THEN they travel in the environment and resource files, never the command line', () => {
    const spec = buildPreparationCommand(base);
    expect(spec.commandLine).not.toMatch(/sig=/);
    expect(spec.commandLine).toContain(`fetch --manifest-id ${id}`);
    expect(spec.commandLine).toContain('--cache "$AZ_BATCH_NODE_SHARED_DIR/spillway-cache"');
    expect(spec.environment).toMatchObject({
      SPILLWAY_MANIFEST_URL: base.manifestUrl,
      SPILLWAY_CONTENT_URL: base.contentContainerUrl,
      SPILLWAY_ASSETS_DIR: `$AZ_BATCH_NODE_SHARED_DIR/spillway-assets/${id}`,
    });
    expect(spec.resourceFiles).toEqual([
      { httpUrl: base.scriptUrl, filePath: 'spillway_fetch.py', fileMode: '0755' },
    ]);
  });

  test.each<[string, Partial<typeof base> & { targetDir?: string }, RegExp]>([
    ['a short id', { manifestId: 'abc' }, /manifestId: must be 64 lower-case hex digits \(got "abc"\)/],
    [
      'a non-URL',
      { manifestUrl: 'file:///x?sig=S' },
      /manifestUrl: must be an http\(s\) URL \(got "file:\/\/\/x"\)/,
    ],
    ['a quote in the target', { targetDir: '/x"; rm -rf /' }, /targetDir: must not contain/],
  ])('GIVEN %s THEN refused naming the field, without the SAS', (_n, change, message) => {
    expect(() => buildPreparationCommand({ ...base, ...change })).toThrow(message);
  });
});

describe('node cache limits and the task/release steps', () => {
  const id = 'b'.repeat(64);
  test.each<[string, Parameters<typeof buildEnterCommand>[0]['cacheLimit'], string]>([
    ['no limit', undefined, `--job "$AZ_BATCH_JOB_ID" --lease-pid $$ || exit $?`],
    ['a byte limit', { bytes: 5_000_000 }, ' --cache-limit-bytes 5000000 --job'],
    ['a share of the disk', { fraction: 0.25 }, ' --cache-limit-fraction 0.25 --job'],
  ])('GIVEN %s WHEN a task enters THEN the fetcher gets it', (_n, cacheLimit, flags) => {
    const cmd = buildEnterCommand({ manifestId: id, ...(cacheLimit ? { cacheLimit } : {}) });
    expect(cmd).toContain(`export SPILLWAY_ASSETS_DIR="$AZ_BATCH_NODE_SHARED_DIR/spillway-assets/${id}"`);
    expect(cmd).toContain(`trap 'rm -f "$AZ_BATCH_NODE_SHARED_DIR/spillway-cache/.spillway/leases/$$"' EXIT`);
    expect(cmd).toContain(`enter --manifest-id ${id}`);
    expect(cmd).toContain(flags);
    expect(cmd.endsWith('\n')).toBe(true);
  });

  test.each<[string, Parameters<typeof buildEnterCommand>[0], RegExp]>([
    [
      'a zero byte limit',
      { manifestId: id, cacheLimit: { bytes: 0 } },
      /cacheLimit\.bytes: must be a positive/,
    ],
    [
      'a fraction above 1',
      { manifestId: id, cacheLimit: { fraction: 1.5 } },
      /cacheLimit\.fraction: must be more than 0/,
    ],
    ['a bad id', { manifestId: 'x' }, /manifestId: must be 64/],
  ])('GIVEN %s THEN refused naming the field', (_n, options, message) => {
    expect(() => buildEnterCommand(options)).toThrow(message);
  });

  test('GIVEN a preparation with a limit THEN it records the job and defers space errors to the tasks', () => {
    const spec = buildPreparationCommand({
      scriptUrl: 'https://a/s.py?sig=S',
      manifestUrl: 'https://a/m.json?sig=S',
      contentContainerUrl: 'https://a/c?sig=S',
      manifestId: id,
      cacheLimit: { bytes: 1024 },
    });
    expect(spec.commandLine).toContain(
      '--cache-limit-bytes 1024 --job "$AZ_BATCH_JOB_ID" --defer-space-errors',
    );
  });

  test('GIVEN a release THEN it removes the job from the node cache, and does nothing where no script was installed', () => {
    const { commandLine } = buildReleaseCommand();
    expect(commandLine).toContain(
      'release --cache "$AZ_BATCH_NODE_SHARED_DIR/spillway-cache" --job "$AZ_BATCH_JOB_ID"',
    );
    expect(
      execFileSync('/bin/sh', ['-c', commandLine], {
        env: { AZ_BATCH_NODE_SHARED_DIR: '/nonexistent', PATH: '/bin' },
      }).toString(),
    ).toBe('');
  });
});

describe('wrapRenderCommand', () => {
  test('GIVEN patterns THEN the collector runs only after a successful render and the exit code is kept', () => {
    const cmd = wrapRenderCommand('blender -b s.blend -f 1 # comment', {
      outputDir: 'out',
      patterns: ['*.png'],
    });
    expect(cmd).toBe(
      `( blender -b s.blend -f 1 # comment\n); rc=$?; if [ "$rc" -eq 0 ]; then "\${SPILLWAY_PYTHON:-python3}" -S "$AZ_BATCH_NODE_SHARED_DIR/spillway/spillway_fetch.py" collect --dir out --pattern '*.png' --output outputs.json || exit $?; fi; exit $rc`,
    );
    // A failing render keeps its code and skips the collector.
    expect(() => execFileSync('/bin/sh', ['-c', wrapRenderCommand('exit 3', { patterns: ['*'] })])).toThrow(
      expect.objectContaining({ status: 3 }) as Error,
    );
  });

  test.each<[string, Parameters<typeof wrapRenderCommand>[1], RegExp]>([
    ['no pattern', { patterns: [] }, /patterns: must name at least one glob/],
    ['an escaping pattern', { patterns: ['../*.png'] }, /patterns\[0\]: must not contain "\.\."/],
    ['an absolute dir', { outputDir: '/tmp', patterns: ['*'] }, /outputDir: must be relative/],
  ])('GIVEN %s THEN refused', (_n, options, message) => {
    expect(() => wrapRenderCommand('render', options)).toThrow(message);
  });
});
