import { parseArgs } from 'node:util';
import type { Command } from '../command';
import { UsageError } from '../command';

const help = `Usage: spillway emulate arm [options]

Serves the Azure Resource Manager subset of Microsoft.Compute that the scale-set backend
uses (VM Scale Sets: create/update/get/delete, delete instances, list VMs, VM protection
policy) over HTTPS, with ARM's long-running operations. Each instance is a local process
running the scale set's custom data with /bin/sh. A bearer token is required (any).

Options:
  --port N               TCP port; 0 picks a free one              (default 0)
  --host ADDR            interface to listen on                    (default 127.0.0.1)
  --work-dir DIR         CA file and instance directories          (default a new temp dir)
  --lro-delay-ms MS      how long an operation stays InProgress    (default 500)
  --boot-delay-ms MS     process start to PowerState/running       (default 0)
  --throttle-every N     answer every Nth request 429              (default off)
  --retry-after-ms MS    the Retry-After of a 429                  (default 1000)
  --json                 print the endpoint as one JSON line
  -h, --help             this help

It prints the endpoint URL and the CA file. Trust the CA in the client: the backend's
trustedCaPem option, or NODE_EXTRA_CA_CERTS=<ca file> for a new Node process.
Evict a Spot instance: POST <url>/spillway-admin/evict with a bearer token and
{"resourceGroup": "...", "scaleSet": "...", "instanceId": "0"}.

Example:
  spillway emulate arm --port 8443`;

function intOption(name: string, value: string | undefined, min: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min)
    throw new UsageError(`--${name}: expected a whole number >= ${min}, got ${JSON.stringify(value)}`);
  return n;
}

/** `spillway emulate arm`: the ARM-compatible local endpoint. */
export const emulateArmCommand: Command = {
  name: 'emulate arm',
  summary: 'serve the Azure Resource Manager (VM Scale Sets) subset over local processes',
  help,
  async run(args) {
    let parsed;
    try {
      parsed = parseArgs({
        args,
        options: {
          port: { type: 'string' },
          host: { type: 'string' },
          'work-dir': { type: 'string' },
          'lro-delay-ms': { type: 'string' },
          'boot-delay-ms': { type: 'string' },
          'throttle-every': { type: 'string' },
          'retry-after-ms': { type: 'string' },
          json: { type: 'boolean' },
        },
        strict: true,
        allowPositionals: false,
      });
    } catch (err) {
      throw new UsageError(err instanceof Error ? err.message : String(err));
    }
    const v = parsed.values;
    const port = intOption('port', v.port, 0);
    if (port !== undefined && port > 65535)
      throw new UsageError(`--port: expected 0-65535, got ${JSON.stringify(v.port)}`);
    const throttleEvery = intOption('throttle-every', v['throttle-every'], 1);
    const retryAfterMs = intOption('retry-after-ms', v['retry-after-ms'], 0);
    const lroDelayMs = intOption('lro-delay-ms', v['lro-delay-ms'], 0);
    const bootDelayMs = intOption('boot-delay-ms', v['boot-delay-ms'], 0);

    const { startArmEmulator } = require('../../emulate/arm') as typeof import('../../emulate/arm');
    const { createLogger } = require('../../logging') as typeof import('../../logging');
    const emulator = await startArmEmulator({
      ...(port !== undefined ? { port } : {}),
      ...(v.host !== undefined ? { host: v.host } : {}),
      ...(v['work-dir'] !== undefined ? { workDir: v['work-dir'] } : {}),
      ...(lroDelayMs !== undefined ? { lroDelayMs } : {}),
      ...(bootDelayMs !== undefined ? { bootDelayMs } : {}),
      ...(throttleEvery !== undefined
        ? { throttle: { everyN: throttleEvery, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) } }
        : {}),
      logger: createLogger({ name: 'arm-emulator', level: v.json ? 'warn' : 'info' }),
    });
    if (v.json) {
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
