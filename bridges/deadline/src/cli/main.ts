/**
 * `spillway-deadline`: runs the Deadline bridge as a long-lived service (the bridge kit's
 * command skeleton: commander flags over a `--config` file, exit 0 stopped, 1 failed, 2 usage).
 *
 *     spillway-deadline --webservice URL [--user U --password-file F] --service ADDR [--turnaround SECONDS] [--config FILE]
 */
import {
  bridgeHelp,
  runBridgeCommand,
  warnOfLegacyState,
  type BridgeCommandSpec,
  type CommandIo,
} from '@spillway/bridge-kit';
import { DeadlineBridge } from '../bridge/bridge';
import { readConfigFile, resolveConfig, type BridgeConfig } from '../bridge/config';

/** The command's flags and what it runs. */
export const COMMAND: BridgeCommandSpec<BridgeConfig> = {
  name: 'spillway-deadline',
  logName: 'deadline',
  usage: '--webservice URL --service HOST:PORT [options]',
  description:
    "Overflows a Thinkbox Deadline farm into Spillway (Azure) and back: suspends the queued tasks no idle local worker can take, renders them in the cloud, places their outputs in the job's output directory and marks them complete; recalls cloud frames when workers go idle. Every option is also a key of the --config JSON file, in camelCase; flags win.",
  flags: [
    {
      flags: '--webservice <url>',
      key: 'webservice',
      description: 'Deadline Web Service, e.g. http://deadline:8081 (required)',
    },
    { flags: '--user <user>', key: 'user', description: 'Web Service user (Basic auth)' },
    {
      flags: '--password-file <file>',
      key: 'passwordFile',
      description: 'file holding the Web Service password',
    },
    { flags: '--ca-file <file>', key: 'caFile', description: 'PEM CA to trust for an https Web Service' },
    { flags: '--service <host:port>', key: 'service', description: 'the Spillway service (required)' },
    {
      flags: '--token-file <file>',
      key: 'tokenFile',
      description: "file holding the service's bearer token",
    },
    {
      flags: '--name <name>',
      key: 'name',
      description: 'bridge name; frames use source deadline:NAME (default default)',
    },
    {
      flags: '--turnaround <seconds>',
      key: 'turnaroundSeconds',
      description:
        'deadline of jobs without a SpillwayDeadline extra-info key: submission time + this (default 7200)',
    },
    {
      flags: '--deadline-key <key>',
      key: 'deadlineKey',
      description:
        "extra-info key holding a job's deadline, ISO-8601 or epoch seconds (default SpillwayDeadline)",
    },
    {
      flags: '--poll-interval-ms <ms>',
      key: 'pollIntervalMs',
      description: 'how often the farm is read and reported (default 5000)',
    },
    {
      flags: '--state-dir <dir>',
      key: 'stateDir',
      description:
        "the bridge's own state (default $SPILLWAY_DATA_DIR/bridges/deadline, else ~/.spillway/bridges/deadline)",
    },
    {
      flags: '--capacity-group <name>',
      key: 'capacityGroup',
      description: "Spillway capacity group (default: the service's default)",
    },
    {
      flags: '--gpu-group <name>',
      key: 'gpuCapacityGroup',
      description:
        'Spillway GPU capacity group of jobs with ExtraInfo SpillwayGpus=N (default: none, they stay local)',
    },
    {
      flags: '--worker-group <name>',
      key: 'workerGroups',
      repeatable: true,
      description:
        'a worker-burst capacity group whose cloud workers join this farm: the bridge drains, requeues on eviction and removes them (repeatable)',
    },
    {
      flags: '--cloud-retries <n>',
      key: 'cloudRetries',
      description: 'cloud retries before a task returns to the farm (default 1)',
    },
    {
      flags: '--command-wrapper <cmd>',
      key: 'commandWrapper',
      description: "command put before every cloud frame's command",
    },
    { flags: '--log-level <level>', key: 'logLevel', description: 'debug, info, warn, error (default info)' },
  ],
  epilogue: `Config-file-only keys:
  pathRules     [{"from": "Z:\\\\projects", "to": "/mnt/projects"}]  (scene, output and CommandLine argument paths)
  executables   {"blender": "/opt/blender/blender", "kick": "...", "vray": "...", "maya": "..."}
  frameTimeoutMs  wall-clock limit of one cloud attempt

Exit codes: 0 stopped (SIGTERM/SIGINT), 1 could not start or failed, 2 bad usage.

Example:
  spillway-deadline --webservice http://deadline:8081 --user spillway \\
    --password-file /etc/spillway/deadline.pw --service spillway.studio:7443 --turnaround 3600`,
  readConfigFile: (file) => readConfigFile(file) as Record<string, unknown>,
  resolve: (flags, file) => resolveConfig(flags, file),
  start: async (config, logger) => {
    warnOfLegacyState(logger, 'spillway-deadline-state', config.stateDir, `deadline-${config.name}.json`);
    const bridge = await DeadlineBridge.start(config, { logger });
    logger.info('bridge started', {
      source: bridge.source,
      webservice: bridge.deadlineClient.url,
      service: config.service,
      stateDir: config.stateDir,
    });
    return {
      close: () => bridge.close(),
      stopped: bridge.stopped,
      summary: () => ({ ...bridge.counters }),
    };
  },
};

/** The help text. */
export const HELP = bridgeHelp(COMMAND);

/** Runs the command; resolves to an exit code once the bridge stops (SIGTERM/SIGINT). */
export function main(argv: string[], io?: CommandIo): Promise<number> {
  return runBridgeCommand(COMMAND, argv, io);
}
