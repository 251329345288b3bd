/**
 * `spillway-opencue`: runs the virtual host (the bridge kit's command skeleton: commander
 * flags over a `--config` file, exit 0 stopped, 1 could not start or failed, 2 usage).
 *
 *     spillway-opencue --cuebot HOST:PORT --service ADDR --host-name NAME --rqd-port PORT [--config FILE]
 */
import {
  bridgeHelp,
  runBridgeCommand,
  warnOfLegacyState,
  type BridgeCommandSpec,
  type CommandIo,
} from '@spillway/bridge-kit';
import { readConfigFile, resolveConfig, type VirtualHostConfig } from '../host/config';
import { startOpenCueBridge } from '../bridge';

/** The command's flags and what it runs. */
export const COMMAND: BridgeCommandSpec<VirtualHostConfig> = {
  name: 'spillway-opencue',
  logName: 'opencue',
  usage: '--cuebot HOST:PORT --service HOST:PORT --host-name NAME [options]',
  description:
    'Joins an OpenCue farm as a render host backed by the Spillway service (Azure capacity). Every option is also a key of the --config JSON file, in camelCase; flags win.',
  flags: [
    { flags: '--cuebot <host:port>', key: 'cuebot', description: "Cuebot's gRPC address (required)" },
    { flags: '--service <host:port>', key: 'service', description: 'the Spillway service (required)' },
    {
      flags: '--host-name <name>',
      key: 'hostName',
      description: 'the name Cuebot dials this host back by (required)',
    },
    {
      flags: '--rqd-port <port>',
      key: 'rqdPort',
      description: 'farm-wide RQD port Cuebot dials (default 8444)',
    },
    {
      flags: '--rqd-listen-host <addr>',
      key: 'rqdListenHost',
      description: 'address the RQD server binds (default 0.0.0.0)',
    },
    {
      flags: '--facility <name>',
      key: 'facility',
      description: 'facility of the burst allocation (default cloud)',
    },
    {
      flags: '--tags <a,b>',
      key: 'tags',
      description: 'host tags; layers with one of them may overflow (default burst)',
    },
    {
      flags: '--allocation <name>',
      key: 'allocation',
      description: 'burst allocation short name, facility.NAME (default burst)',
    },
    { flags: '--cores <n>', key: 'cores', description: 'cores offered at most (default 16)' },
    { flags: '--memory-gb <n>', key: 'memoryGb', description: 'memory reported, GiB (default 256)' },
    {
      flags: '--report-interval-ms <ms>',
      key: 'reportIntervalMs',
      description: 'status and plan interval (default 5000)',
    },
    {
      flags: '--turnaround <seconds>',
      key: 'turnaroundSeconds',
      description: 'deadline of jobs carrying no SPILLWAY_DEADLINE: submission + this (default 7200)',
    },
    {
      flags: '--state-dir <dir>',
      key: 'stateDir',
      description:
        "the host's own state (default $SPILLWAY_DATA_DIR/bridges/opencue, else ~/.spillway/bridges/opencue)",
    },
    {
      flags: '--capacity-group <name>',
      key: 'capacityGroup',
      description: "Spillway capacity group (default: the service's default)",
    },
    {
      flags: '--token-file <file>',
      key: 'tokenFile',
      description: "file holding the service's bearer token",
    },
    {
      flags: '--subscribe-shows <a,b>',
      key: 'subscribeShows',
      description: 'shows to subscribe to the burst allocation if not yet',
    },
    {
      flags: '--path-map <from=to>',
      key: 'pathMap',
      description:
        "farm path prefix as the cloud mounts it, e.g. /mnt/show=/mnt/cloud/show or 'Z:\\projects=/mnt/projects' (repeatable; default none)",
      repeatable: true,
    },
    {
      flags: '--worker-group <name>',
      key: 'workerGroups',
      description:
        'a worker-burst capacity group whose cloud RQD hosts join this Cuebot: the bridge locks them to drain, stops the frames of evicted ones and deletes gone hosts (repeatable)',
      repeatable: true,
    },
    { flags: '--log-level <level>', key: 'logLevel', description: 'debug, info, warn, error (default info)' },
  ],
  epilogue: `Exit codes: 0 stopped (SIGTERM/SIGINT), 1 could not start (Cuebot or allocation unreachable) or failed, 2 bad usage.

Example:
  spillway-opencue --cuebot cuebot.studio:8443 --service spillway.studio:7443 \\
    --host-name azure-burst-1 --rqd-port 8444 --turnaround 3600`,
  readConfigFile,
  resolve: (flags, file) => resolveConfig(file, flags),
  start: async (config, logger) => {
    warnOfLegacyState(logger, 'spillway-opencue-state', config.stateDir, `${config.hostName}.json`);
    const bridge = await startOpenCueBridge(config, logger);
    return {
      close: async () => {
        logger.info('stopping: frames go on in the cloud; a restarted host picks them up');
        await bridge.close();
      },
      stopped: bridge.stopped,
    };
  },
};

/** The help text. */
export const HELP = bridgeHelp(COMMAND);

/** Runs the command; resolves to an exit code once the host stops (SIGTERM/SIGINT). */
export function main(argv: string[], io?: CommandIo): Promise<number> {
  return runBridgeCommand(COMMAND, argv, io);
}
