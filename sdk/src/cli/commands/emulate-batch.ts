import { parseArgs } from 'node:util';
import type { Command } from '../command';
import { UsageError } from '../command';

const HELP = `Usage: spillway emulate batch [options]

Serves the Azure Batch REST API subset Spillway uses (api-version 2022-10-01.16.0) on this
machine, over the local engine: tasks run as real processes on simulated nodes.

Options:
  --port N                    port to listen on (0 picks a free one)        [default: 8089]
  --host ADDR                 address to listen on                          [default: 127.0.0.1]
  --account NAME              account name for SharedKey auth               [default: spillway]
  --key BASE64KEY             account key (base64)                          [default: the published dev key]
  --boot-delay-ms N           simulated node boot time                      [default: 2000]
  --root-dir DIR              where node directories live                   [default: a temporary directory]
  --server-busy-rate R        share of requests answered 503 ServerBusy      [default: 0]
  --timed-out-rate R          share answered 500 OperationTimedOut           [default: 0]
  --drop-rate R               share of connections dropped                   [default: 0]
  --preemptions-per-hour R    random preemptions per spot node and hour      [default: 0]
  --seed N                    seed of fault and preemption draws             [default: 1]
  --json                      print the endpoint as one JSON line

Example:
  spillway emulate batch --port 8089 --server-busy-rate 0.1
`;

function rate(name: string, value: string | undefined): number {
  if (value === undefined) return 0;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || n > 1)
    throw new UsageError(`--${name} must be between 0 and 1, got ${JSON.stringify(value)}`);
  return n;
}

function whole(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0)
    throw new UsageError(`--${name} must be a whole number, got ${JSON.stringify(value)}`);
  return n;
}

/** `spillway emulate batch`: the Batch-compatible local endpoint. */
export const emulateBatchCommand: Command = {
  name: 'emulate batch',
  summary: 'serve the Azure Batch REST API over the local engine',
  help: HELP,
  async run(args) {
    let values;
    try {
      ({ values } = parseArgs({
        args,
        options: {
          port: { type: 'string' },
          host: { type: 'string' },
          account: { type: 'string' },
          key: { type: 'string' },
          'boot-delay-ms': { type: 'string' },
          'root-dir': { type: 'string' },
          'server-busy-rate': { type: 'string' },
          'timed-out-rate': { type: 'string' },
          'drop-rate': { type: 'string' },
          'preemptions-per-hour': { type: 'string' },
          seed: { type: 'string' },
          json: { type: 'boolean' },
        },
        strict: true,
      }));
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
    const port = whole('port', values.port, 8089);
    if (port > 65535)
      throw new UsageError(`--port must be at most 65535, got ${JSON.stringify(values.port)}`);
    if (values.key !== undefined && Buffer.from(values.key, 'base64').length < 16) {
      throw new UsageError('--key must be base64 of at least 16 bytes');
    }
    const preemptions = Number(values['preemptions-per-hour'] ?? 0);
    if (!Number.isFinite(preemptions) || preemptions < 0) {
      throw new UsageError(
        `--preemptions-per-hour must be a number of at least 0, got ${JSON.stringify(values['preemptions-per-hour'])}`,
      );
    }
    const seed = whole('seed', values.seed, 1);
    const { startBatchEmulator, DEFAULT_BATCH_ACCOUNT, DEFAULT_BATCH_KEY } =
      require('../../emulate/batch') as typeof import('../../emulate/batch');
    const emulator = await startBatchEmulator({
      port,
      host: values.host ?? '127.0.0.1',
      accountName: values.account ?? DEFAULT_BATCH_ACCOUNT,
      accountKey: values.key ?? DEFAULT_BATCH_KEY,
      engine: {
        bootDelayMs: whole('boot-delay-ms', values['boot-delay-ms'], 2000),
        spotPreemptionsPerNodeHour: preemptions,
        seed,
        ...(values['root-dir'] ? { rootDir: values['root-dir'] } : {}),
      },
      faults: {
        serverBusyRate: rate('server-busy-rate', values['server-busy-rate']),
        operationTimedOutRate: rate('timed-out-rate', values['timed-out-rate']),
        dropConnectionRate: rate('drop-rate', values['drop-rate']),
        seed,
      },
    });
    // The default key is a published development key; a key given on the command line is not echoed.
    const key = values.key === undefined ? emulator.accountKey : '(as given with --key)';
    if (values.json) {
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
    await new Promise<void>((resolve) => {
      const stop = (): void => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        resolve();
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
    await emulator.close();
    return 0;
  },
};
