import type { Command } from '@commander-js/extra-typings';
import { DEFAULT_USAGE_LIMITS } from '../../emulate/arm/defaults';
import { DEFAULT_BATCH_QUOTA, DEFAULT_RESIZE_TIME_MS } from '../../emulate/batch/defaults';
import { decimal, exits, typedOption, wholeNumber } from '../command';
import { untilStopped } from '../../logging/pipe';

const rate = (): ReturnType<typeof decimal> => decimal({ min: 0, max: 1 });

/** `spillway emulate batch|arm`: the Azure-compatible local endpoints. */
export function register(program: Command): void {
  const emulate = program
    .command('emulate')
    .summary('serve an Azure-compatible local endpoint (batch | arm)')
    .description('serve an Azure-compatible local endpoint: Batch (batch) or VM Scale Sets (arm)');

  emulate
    .command('batch')
    .summary('the Azure Batch REST API over the local engine')
    .description(
      'serve the Azure Batch REST API subset Spillway uses (api-version 2022-10-01.16.0) on this machine, over the local engine: tasks run as real processes on simulated nodes',
    )
    .addOption(
      typedOption(
        '--port <N>',
        'port to listen on (0 picks a free one)',
        wholeNumber({ max: 65535 }),
      ).default(8089),
    )
    .option('--host <ADDR>', 'address to listen on', '127.0.0.1')
    .option('--account <NAME>', 'account name for SharedKey auth (default: spillway)')
    .addOption(
      typedOption(
        '--key <BASE64KEY>',
        'account key, base64 (default: the published development key)',
        (v) => {
          if (Buffer.from(v, 'base64').length < 16) throw new Error('expected base64 of at least 16 bytes');
          return v;
        },
      ),
    )
    .addOption(typedOption('--boot-delay-ms <N>', 'simulated node boot time', wholeNumber()).default(2000))
    .option('--root-dir <DIR>', 'where node directories live (default: a temporary directory)')
    .addOption(
      typedOption('--server-busy-rate <R>', 'share of requests answered 503 ServerBusy', rate()).default(0),
    )
    .addOption(typedOption('--timed-out-rate <R>', 'share answered 500 OperationTimedOut', rate()).default(0))
    .addOption(typedOption('--drop-rate <R>', 'share of connections dropped', rate()).default(0))
    .addOption(
      typedOption(
        '--preemptions-per-hour <R>',
        'random preemptions per spot node and hour',
        decimal({ min: 0 }),
      ).default(0),
    )
    .addOption(typedOption('--seed <N>', 'seed of fault and preemption draws', wholeNumber()).default(1))
    .addOption(
      typedOption(
        '--resize-time-ms <N>',
        'how long a resize keeps a pool resizing (a second resize meanwhile is 409 PoolBeingResized; real Batch: minutes)',
        wholeNumber(),
      ).default(DEFAULT_RESIZE_TIME_MS),
    )
    .addOption(
      typedOption(
        '--active-job-quota <N>',
        'active jobs and job schedules the account allows',
        wholeNumber(),
      ).default(DEFAULT_BATCH_QUOTA.activeJobs),
    )
    .addOption(
      typedOption('--pool-quota <N>', 'pools the account allows', wholeNumber()).default(
        DEFAULT_BATCH_QUOTA.pools,
      ),
    )
    .addOption(
      typedOption('--dedicated-core-quota <N>', 'dedicated cores the account allows', wholeNumber()).default(
        DEFAULT_BATCH_QUOTA.dedicatedCores,
      ),
    )
    .addOption(
      typedOption(
        '--low-priority-core-quota <N>',
        'low-priority (spot) cores the account allows',
        wholeNumber(),
      ).default(DEFAULT_BATCH_QUOTA.lowPriorityCores),
    )
    .option(
      '--share <SOURCE=DIR>',
      "a local directory standing in for a mount source of pools' mountConfiguration, e.g. nas:/export/projects=/srv/projects (repeatable; other sources get an empty directory)",
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .option('--json', 'print the endpoint as one JSON line')
    .addHelpText(
      'after',
      `
The account's quotas are enforced with Batch's error codes (ActiveJobAndScheduleQuotaReached,
PoolQuotaReached; AccountCoreQuotaReached on the pool for cores), and its ARM resource
(GET <url>/subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.Batch/batchAccounts/<account>,
any bearer token) reports them.

Example:
  spillway emulate batch --port 8089 --server-busy-rate 0.1 --active-job-quota 300`,
    )
    .action(
      exits(async (opts) => {
        const { startBatchEmulator, DEFAULT_BATCH_ACCOUNT, DEFAULT_BATCH_KEY } =
          require('../../emulate/batch') as typeof import('../../emulate/batch');
        const emulator = await startBatchEmulator({
          port: opts.port,
          host: opts.host,
          accountName: opts.account ?? DEFAULT_BATCH_ACCOUNT,
          accountKey: opts.key ?? DEFAULT_BATCH_KEY,
          engine: {
            bootDelayMs: opts.bootDelayMs,
            spotPreemptionsPerNodeHour: opts.preemptionsPerHour,
            seed: opts.seed,
            resizeTimeMs: opts.resizeTimeMs,
            quota: {
              activeJobs: opts.activeJobQuota,
              pools: opts.poolQuota,
              dedicatedCores: opts.dedicatedCoreQuota,
              lowPriorityCores: opts.lowPriorityCoreQuota,
            },
            ...(opts.rootDir ? { rootDir: opts.rootDir } : {}),
            ...(opts.share ? { shares: parseShares(opts.share as string[]) } : {}),
          },
          faults: {
            serverBusyRate: opts.serverBusyRate,
            operationTimedOutRate: opts.timedOutRate,
            dropConnectionRate: opts.dropRate,
            seed: opts.seed,
          },
        });
        // The default key is a published development key; a key given on the command line is not echoed.
        const key = opts.key === undefined ? emulator.accountKey : '(as given with --key)';
        if (opts.json) {
          console.log(
            JSON.stringify({
              url: emulator.url,
              account: emulator.accountName,
              key,
              rootDir: emulator.engine.rootDir,
            }),
          );
        } else {
          console.log(`Azure Batch emulator (api-version 2022-10-01.16.0) listening on ${emulator.url}`);
          console.log(`  account: ${emulator.accountName}`);
          console.log(`  key:     ${key}`);
          console.log(`  nodes:   ${emulator.engine.rootDir}`);
          console.log('Ctrl-C to stop.');
        }
        await untilStopped();
        await emulator.close();
        return 0;
      }),
    );

  emulate
    .command('arm')
    .summary('Azure Resource Manager (VM Scale Sets) over local processes')
    .description(
      "serve the Azure Resource Manager subset of Microsoft.Compute that the scale-set backend uses (VM Scale Sets: create/update/get/delete, delete instances, list VMs, VM protection policy) over HTTPS, with ARM's long-running operations. Each instance is a local process running the scale set's custom data with /bin/sh. A bearer token is required (any)",
    )
    .addOption(
      typedOption('--port <N>', 'TCP port; 0 picks a free one', wholeNumber({ max: 65535 })).default(0),
    )
    .option('--host <ADDR>', 'interface to listen on', '127.0.0.1')
    .option('--work-dir <DIR>', 'CA file and instance directories (default: a new temporary directory)')
    .addOption(
      typedOption('--lro-delay-ms <MS>', 'how long an operation stays InProgress', wholeNumber()).default(
        500,
      ),
    )
    .addOption(
      typedOption('--boot-delay-ms <MS>', 'process start to PowerState/running', wholeNumber()).default(0),
    )
    .addOption(
      typedOption(
        '--throttle-every <N>',
        'answer every Nth request 429 (default: off)',
        wholeNumber({ min: 1 }),
      ),
    )
    .addOption(typedOption('--retry-after-ms <MS>', 'the Retry-After of a 429', wholeNumber()).default(1000))
    .addOption(
      typedOption(
        '--cores-limit <N>',
        'regional vCPU limit, Regular priority (Compute usages "cores")',
        wholeNumber(),
      ).default(DEFAULT_USAGE_LIMITS.cores),
    )
    .addOption(
      typedOption(
        '--low-priority-cores-limit <N>',
        'regional Spot vCPU limit (Compute usages "lowPriorityCores")',
        wholeNumber(),
      ).default(DEFAULT_USAGE_LIMITS.lowPriorityCores),
    )
    .option('--json', 'print the endpoint as one JSON line')
    .addHelpText(
      'after',
      `
It prints the endpoint URL and the CA file. Trust the CA in the client: the backend's
trustedCaPem option, or NODE_EXTRA_CA_CERTS=<ca file> for a new Node process.
Evict a Spot instance: POST <url>/spillway-admin/evict with a bearer token and
{"resourceGroup": "...", "scaleSet": "...", "instanceId": "0"}.

Example:
  spillway emulate arm --port 8443`,
    )
    .action(
      exits(async (opts) => {
        const { startArmEmulator } = require('../../emulate/arm') as typeof import('../../emulate/arm');
        const { createLogger } = require('../../logging') as typeof import('../../logging');
        const emulator = await startArmEmulator({
          port: opts.port,
          host: opts.host,
          ...(opts.workDir !== undefined ? { workDir: opts.workDir } : {}),
          lroDelayMs: opts.lroDelayMs,
          bootDelayMs: opts.bootDelayMs,
          usageLimits: { cores: opts.coresLimit, lowPriorityCores: opts.lowPriorityCoresLimit },
          ...(opts.throttleEvery !== undefined
            ? { throttle: { everyN: opts.throttleEvery, retryAfterMs: opts.retryAfterMs } }
            : {}),
          logger: createLogger({ name: 'arm-emulator', level: opts.json ? 'warn' : 'info' }),
        });
        if (opts.json) {
          console.log(
            JSON.stringify({
              url: emulator.url,
              port: emulator.port,
              caPath: emulator.caPath,
              workDir: emulator.workDir,
            }),
          );
        } else {
          console.log(`ARM emulator listening on ${emulator.url}`);
          console.log(`CA certificate: ${emulator.caPath}   (NODE_EXTRA_CA_CERTS=${emulator.caPath})`);
          console.log(`instances run in ${emulator.workDir}/instances; Ctrl-C stops them all`);
        }
        await untilStopped();
        await emulator.close();
        return 0;
      }),
    );
}

/** `SOURCE=DIR` pairs (the last `=` splits: NFS sources have none, URLs may) as the engine's stand-ins. */
function parseShares(pairs: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of pairs) {
    const at = p.lastIndexOf('=');
    if (at <= 0 || at === p.length - 1) throw new Error(`--share ${JSON.stringify(p)}: expected SOURCE=DIR`);
    out[p.slice(0, at)] = p.slice(at + 1);
  }
  return out;
}
