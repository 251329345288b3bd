import { spawnSync } from 'node:child_process';

/** Debian's Python, which has Microsoft's SDK (`python3-azure`); the first `python3` on PATH may not. */
export const PYTHON = '/usr/bin/python3';

/** Why Microsoft's Python Batch SDK cannot run here, or undefined when it can. */
export function pythonBatchSdkMissing(): string | undefined {
  const r = spawnSync(PYTHON, ['-c', 'import azure.batch, azure.batch.models'], { encoding: 'utf8' });
  if (r.error) return `${PYTHON} is missing (install python3-azure; .ci/run does)`;
  if (r.status !== 0) return `${PYTHON} cannot import azure.batch (install python3-azure; .ci/run does)`;
  return undefined;
}

/** Why Microsoft's `az` CLI with its batch commands cannot run here, or undefined when it can. */
export function azCliMissing(): string | undefined {
  const r = spawnSync('az', ['version', '--output', 'none'], {
    encoding: 'utf8',
    env: { ...process.env, AZURE_CORE_COLLECT_TELEMETRY: 'false' },
  });
  if (r.error) return 'the az CLI is missing (install azure-cli; .ci/run does)';
  if (r.status !== 0) return `az does not run: ${r.stderr.trim().split('\n')[0]}`;
  return undefined;
}
