/**
 * `spillway-opencue`: runs the virtual host.
 *
 *     spillway-opencue --cuebot HOST:PORT --service ADDR --host-name NAME --rqd-port PORT [--config FILE]
 */
import { parseArgs } from 'node:util';
import { createLogger, SpillwayError } from '@spillway/sdk';
import { readConfigFile, resolveConfig } from '../host/config';
import { VirtualHost } from '../host/virtual-host';

/** The help text. */
export const HELP = `Usage: spillway-opencue --cuebot HOST:PORT --service HOST:PORT --host-name NAME [options]

Joins an OpenCue farm as a render host backed by the Spillway service (Azure capacity).

Options (each also a key of the --config JSON file, in camelCase; flags win):
  --cuebot HOST:PORT         Cuebot's gRPC address (required)
  --service HOST:PORT        the Spillway service (required)
  --host-name NAME           the name Cuebot dials this host back by (required)
  --rqd-port PORT            farm-wide RQD port Cuebot dials (default 8444)
  --rqd-listen-host ADDR     address the RQD server binds (default 0.0.0.0)
  --facility NAME            facility of the burst allocation (default cloud)
  --tags A,B                 host tags; layers with one of them may overflow (default burst)
  --allocation NAME          burst allocation short name, facility.NAME (default burst)
  --cores N                  cores offered at most (default 16)
  --memory-gb N              memory reported, GiB (default 256)
  --report-interval-ms MS    status and plan interval (default 5000)
  --turnaround SECONDS       deadline of jobs carrying none: submission + this (default 7200)
  --state-dir DIR            the host's own state (default ./spillway-opencue-state)
  --capacity-group NAME      Spillway capacity group (default: the service's default)
  --token-file FILE          file holding the service's bearer token
  --subscribe-shows A,B      shows to subscribe to the burst allocation if not yet
  --path-map FROM=TO         farm path prefix as the cloud mounts it (repeatable; default none)
  --log-level LEVEL          debug, info, warn, error (default info)
  --config FILE              JSON file with the keys above

Example:
  spillway-opencue --cuebot cuebot.studio:8443 --service spillway.studio:7443 \\
    --host-name azure-burst-1 --rqd-port 8444 --turnaround 3600
`;

/** Runs the command; resolves to an exit code once the host stops (SIGTERM/SIGINT). */
export async function main(argv: string[]): Promise<number> {
  let values: Record<string, string | boolean | string[] | undefined>;
  try {
    values = parseArgs({
      args: argv,
      options: {
        cuebot: { type: 'string' },
        service: { type: 'string' },
        'host-name': { type: 'string' },
        'rqd-port': { type: 'string' },
        'rqd-listen-host': { type: 'string' },
        facility: { type: 'string' },
        tags: { type: 'string' },
        allocation: { type: 'string' },
        cores: { type: 'string' },
        'memory-gb': { type: 'string' },
        'report-interval-ms': { type: 'string' },
        turnaround: { type: 'string' },
        'state-dir': { type: 'string' },
        'capacity-group': { type: 'string' },
        'token-file': { type: 'string' },
        'subscribe-shows': { type: 'string' },
        'path-map': { type: 'string', multiple: true },
        'log-level': { type: 'string' },
        config: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }).values;
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${HELP}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const s = (k: string): string | undefined => values[k] as string | undefined;
  let config;
  try {
    const file = s('config') ? readConfigFile(s('config')!) : {};
    config = resolveConfig(file, {
      cuebot: s('cuebot'),
      service: s('service'),
      hostName: s('host-name'),
      rqdPort: s('rqd-port'),
      rqdListenHost: s('rqd-listen-host'),
      facility: s('facility'),
      tags: s('tags'),
      allocation: s('allocation'),
      cores: s('cores'),
      memoryGb: s('memory-gb'),
      reportIntervalMs: s('report-interval-ms'),
      turnaroundSeconds: s('turnaround'),
      stateDir: s('state-dir'),
      capacityGroup: s('capacity-group'),
      tokenFile: s('token-file'),
      subscribeShows: s('subscribe-shows'),
      pathMap: values['path-map'],
      logLevel: s('log-level'),
    });
  } catch (err) {
    process.stderr.write(`spillway-opencue: ${(err as Error).message}\n\n${HELP}`);
    return 2;
  }
  const logger = createLogger({ level: config.logLevel, name: 'opencue' });
  let host: VirtualHost;
  try {
    host = await VirtualHost.start(config, { logger });
  } catch (err) {
    logger.error('virtual host did not start', {
      err: err instanceof SpillwayError ? err.message : (err as Error).message,
    });
    return 1;
  }
  await new Promise<void>((resolve) => {
    const stop = (): void => resolve();
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  logger.info('stopping: frames go on in the cloud; a restarted host picks them up');
  await host.close();
  return 0;
}
