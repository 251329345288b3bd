import type { Command } from '../command';

// Placeholder until the arm emulator lands: it says so instead of pretending.
export const emulateArmCommand: Command = {
  name: 'emulate arm',
  summary: 'not built yet',
  help: 'spillway emulate arm: not built yet.',
  async run() {
    console.error('spillway emulate arm: not built yet');
    return 1;
  },
};
