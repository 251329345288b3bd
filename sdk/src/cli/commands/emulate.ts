import type { Command } from '../command';
import { UsageError } from '../command';

/** `spillway emulate batch|arm`: the Azure-compatible local endpoints. */
const targets: Record<string, () => Promise<Command>> = {
  batch: async () => (require('./emulate-batch') as typeof import('./emulate-batch')).emulateBatchCommand,
  arm: async () => (require('./emulate-arm') as typeof import('./emulate-arm')).emulateArmCommand,
};

export const emulateCommand: Command = {
  name: 'emulate',
  summary: 'serve an Azure-compatible local endpoint: Batch (batch) or VM Scale Sets (arm)',
  help: [
    'Usage: spillway emulate batch [options]   Azure Batch REST API over the local engine',
    '       spillway emulate arm [options]     Azure Resource Manager (VM Scale Sets) over local processes',
    '',
    'spillway emulate batch --help and spillway emulate arm --help list their options.',
  ].join('\n'),
  async run(args) {
    const [target, ...rest] = args;
    const load = target === undefined ? undefined : targets[target];
    if (!load)
      throw new UsageError(`emulate: expected "batch" or "arm", got ${JSON.stringify(target ?? '')}`);
    const command = await load();
    if (rest.includes('--help') || rest.includes('-h')) {
      console.log(command.help);
      return 0;
    }
    return command.run(rest);
  },
};
