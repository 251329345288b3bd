import type { Command } from '../command';

// Placeholder until the batch emulator lands: it says so instead of pretending.
export const emulateBatchCommand: Command = {
  name: 'emulate batch',
  summary: 'not built yet',
  help: 'spillway emulate batch: not built yet.',
  async run() {
    console.error('spillway emulate batch: not built yet');
    return 1;
  },
};
