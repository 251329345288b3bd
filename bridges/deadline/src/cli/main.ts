/**
 * `spillway-deadline`: runs the Deadline bridge as a long-lived service.
 *
 *     spillway-deadline --webservice URL [--user U --password-file F] --service ADDR [--turnaround SECONDS] [--config FILE]
 */
import { parseArgs } from 'node:util';
import { createLogger, SpillwayError } from '@spillway/sdk';
import { DeadlineBridge } from '../bridge/bridge';
import { readConfigFile, resolveConfig, type BridgeConfigInput } from '../bridge/config';

/** The help text. */
export const HELP = `Usage: spillway-deadline --webservice URL --service HOST:PORT [options]

Overflows a Thinkbox Deadline farm into Spillway (Azure) and back: suspends the queued
tasks no idle local worker can take, renders them in the cloud, places their outputs in the
job's output directory and marks them complete; recalls cloud frames when workers go idle.

Options (each also a key of the --config JSON file, in camelCase; flags win):
  --webservice URL           Deadline Web Service, e.g. http://deadline:8081 (required)
  --user USER                Web Service user (Basic auth)
  --password-file FILE       file holding the Web Service password
  --ca-file FILE             PEM CA to trust for an https Web Service
  --service HOST:PORT        the Spillway service (required)
  --token-file FILE          file holding the service's bearer token
  --name NAME                bridge name; frames use source deadline:NAME (default default)
  --turnaround SECONDS       deadline of jobs without a SpillwayDeadline extra-info key:
                             submission time + this (default 7200)
  --deadline-key KEY         extra-info key holding a job's ISO-8601 deadline (default SpillwayDeadline)
  --poll-interval-ms MS      how often the farm is read and reported (default 5000)
  --state-dir DIR            the bridge's own state (default ./spillway-deadline-state)
  --capacity-group NAME      Spillway capacity group (default: the service's default)
  --cloud-retries N          cloud retries before a task returns to the farm (default 1)
  --command-wrapper CMD      command put before every cloud frame's command
  --log-level LEVEL          debug, info, warn, error (default info)
  --config FILE              JSON file with the keys above, plus pathRules
                             [{"from": "Z:\\\\projects", "to": "/mnt/projects"}] and
                             executables {"blender": "/opt/blender/blender"}

Example:
  spillway-deadline --webservice http://deadline:8081 --user spillway \\
    --password-file /etc/spillway/deadline.pw --service spillway.studio:7443 --turnaround 3600
`;

/** Runs the command; resolves to an exit code once the bridge stops (SIGTERM/SIGINT). */
export async function main(argv: string[]): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args: argv,
      options: {
        webservice: { type: 'string' },
        user: { type: 'string' },
        'password-file': { type: 'string' },
        'ca-file': { type: 'string' },
        service: { type: 'string' },
        'token-file': { type: 'string' },
        name: { type: 'string' },
        turnaround: { type: 'string' },
        'deadline-key': { type: 'string' },
        'poll-interval-ms': { type: 'string' },
        'state-dir': { type: 'string' },
        'capacity-group': { type: 'string' },
        'cloud-retries': { type: 'string' },
        'command-wrapper': { type: 'string' },
        'log-level': { type: 'string' },
        config: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }).values;
  } catch (err) {
    process.stderr.write(`spillway-deadline: ${(err as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const s = (k: string): string | undefined => values[k] as string | undefined;
  let bridge: DeadlineBridge;
  const flags: BridgeConfigInput = {
    webservice: s('webservice'),
    user: s('user'),
    passwordFile: s('password-file'),
    caFile: s('ca-file'),
    service: s('service'),
    tokenFile: s('token-file'),
    name: s('name'),
    turnaroundSeconds: s('turnaround'),
    deadlineKey: s('deadline-key'),
    pollIntervalMs: s('poll-interval-ms'),
    stateDir: s('state-dir'),
    capacityGroup: s('capacity-group'),
    cloudRetries: s('cloud-retries'),
    commandWrapper: s('command-wrapper'),
    logLevel: s('log-level'),
  };
  let logger = createLogger({ name: 'deadline' });
  try {
    const config = resolveConfig(flags, s('config') ? readConfigFile(s('config')!) : {});
    logger = createLogger({ name: 'deadline', level: config.logLevel });
    bridge = await DeadlineBridge.start(config, { logger });
  } catch (err) {
    process.stderr.write(
      `spillway-deadline: ${err instanceof SpillwayError || err instanceof Error ? err.message : String(err)}\n`,
    );
    return err instanceof SpillwayError && err.code === 'INVALID_ARGUMENT' ? 2 : 1;
  }
  logger.info('bridge started', {
    source: bridge.source,
    webservice: bridge.deadlineClient.url,
    service: bridge.config.service,
  });
  await new Promise<void>((resolve) => {
    const stop = (): void => resolve();
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  await bridge.close();
  logger.info('bridge stopped', bridge.counters as unknown as Record<string, unknown>);
  return 0;
}
