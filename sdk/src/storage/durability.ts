/**
 * Durability of the embedded Azurite. Azurite keeps blob bytes in files as they arrive, but
 * its metadata (which blobs exist) in memory, saved to disk every 5 seconds: a blob it
 * acknowledged is lost if Azurite is killed before the next save. Spillway must never call a
 * frame done while its outputs can still vanish, so it asks Azurite to save on demand:
 * - `AZURITE_FLUSH_HOOK` runs inside the Azurite process (before Azurite itself): it keeps
 *   Azurite's databases (LokiJS) and, on SIGUSR2, saves them all and then writes the time
 *   the save started to `<dataDir>/.spillway-flushed` (atomically);
 * - `flushAzurite` sends the signal and waits for a save that started after the call.
 * A save writes a temporary file and renames it (LokiJS), so a kill never leaves a torn one.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { StorageError } from './errors';

/** The acknowledgement file of an Azurite data directory. */
export function flushAckFile(dataDir: string): string {
  return path.join(dataDir, '.spillway-flushed');
}

/**
 * JavaScript run in the Azurite process ahead of Azurite (`node -e HOOK+wrapper main ...`):
 * collects Azurite's LokiJS databases as they load and saves them on SIGUSR2.
 */
export const AZURITE_FLUSH_HOOK = `
(() => {
  const path = require('path');
  const fs = require('fs');
  const at = process.argv.indexOf('--location');
  if (at < 0) return; // in memory: nothing to save
  const ack = path.join(process.argv[at + 1], '.spillway-flushed');
  let Loki;
  try {
    Loki = require(require.resolve('lokijs', { paths: [path.dirname(process.argv[1])] }));
  } catch {
    return;
  }
  // Every LokiJS database configures its options in its constructor: that is where to find them.
  const dbs = new Set();
  const configure = Loki.prototype.configureOptions;
  Loki.prototype.configureOptions = function (...args) {
    dbs.add(this);
    return configure.apply(this, args);
  };
  process.on('SIGUSR2', () => {
    const started = Date.now();
    let left = dbs.size;
    let failed = false;
    const saved = (err) => {
      if (err) failed = true;
      if (--left > 0 || failed) return;
      try {
        fs.writeFileSync(ack + '.tmp', String(started));
        fs.renameSync(ack + '.tmp', ack);
      } catch {}
    };
    if (left === 0) {
      left = 1;
      return saved();
    }
    // LokiJS runs a save asked for during a save after it: each waits for one that started later.
    for (const db of dbs) db.saveDatabase(saved);
  });
})();
`;

function readAck(file: string): number {
  try {
    return Number(fs.readFileSync(file, 'utf8')) || 0;
  } catch {
    return 0;
  }
}

/** Rounds per Azurite: one save in flight, callers arriving meanwhile share the next one. */
const rounds = new Map<string, { current?: Promise<void>; next?: Promise<void> }>();

/**
 * Makes everything the Azurite process `pid` (serving `dataDir`) has acknowledged so far
 * survive a SIGKILL of that process: asks it to save its metadata and waits until a save
 * that started after this call is on disk. Concurrent calls share saves.
 * Throws a `StorageError` when no save is acknowledged within `timeoutMs`.
 */
export function flushAzurite(pid: number, dataDir: string, timeoutMs = 15_000): Promise<void> {
  const key = `${pid}:${dataDir}`;
  const round = rounds.get(key) ?? {};
  rounds.set(key, round);
  const run = (): Promise<void> => {
    const p = saveOnce(pid, flushAckFile(dataDir), timeoutMs).finally(() => {
      if (round.current === p) round.current = undefined;
    });
    round.current = p;
    return p;
  };
  if (!round.current) return run();
  round.next ??= round.current
    .catch(() => undefined)
    .then(() => {
      round.next = undefined;
      return run();
    });
  return round.next;
}

async function saveOnce(pid: number, ack: string, timeoutMs: number): Promise<void> {
  const asked = Date.now();
  try {
    process.kill(pid, 'SIGUSR2');
  } catch (err) {
    throw new StorageError(
      `the embedded Azurite (pid ${pid}) is gone; its data cannot be saved (${(err as Error).message})`,
      undefined,
      'AzuriteGone',
    );
  }
  const deadline = asked + timeoutMs;
  for (let wait = 1; readAck(ack) < asked; wait = Math.min(wait * 2, 20)) {
    if (Date.now() > deadline) {
      throw new StorageError(
        `the embedded Azurite did not save its data within ${timeoutMs} ms`,
        undefined,
        'AzuriteNotSaved',
      );
    }
    await new Promise((r) => setTimeout(r, wait));
  }
}
