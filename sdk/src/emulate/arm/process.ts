import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { sleep } from '../../retry';

/** What an emulated instance runs: its scale set's custom data as a shell script. */
export interface InstanceProcessSpec {
  /** The per-instance working directory (created). */
  readonly dir: string;
  /** The decoded custom data. */
  readonly script: string;
  /** Environment on top of a minimal `PATH`/`HOME`. */
  readonly env: Readonly<Record<string, string>>;
}

/**
 * One instance's start-up process: `/bin/sh custom-data.sh` in its own process group, so
 * stopping it ends the whole tree (the worker and anything it started).
 */
export class InstanceProcess {
  private readonly child: ChildProcess;
  private readonly exited: Promise<void>;
  private exitCode: number | null | undefined;

  constructor(spec: InstanceProcessSpec) {
    fs.mkdirSync(spec.dir, { recursive: true });
    const scriptPath = path.join(spec.dir, 'custom-data.sh');
    fs.writeFileSync(scriptPath, spec.script, { mode: 0o700 });
    const out = fs.openSync(path.join(spec.dir, 'output.log'), 'a');
    this.child = spawn('/bin/sh', [scriptPath], {
      cwd: spec.dir,
      detached: true,
      stdio: ['ignore', out, out],
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: spec.dir, ...spec.env },
    });
    fs.closeSync(out);
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code) => {
        this.exitCode = code;
        resolve();
      });
      this.child.once('error', () => {
        this.exitCode = -1;
        resolve();
      });
    });
  }

  /** The shell's process id (also its process group id). */
  get pid(): number | undefined {
    return this.child.pid;
  }

  /** True while the start-up shell runs. */
  get running(): boolean {
    return this.exitCode === undefined;
  }

  /** Ends the process tree: SIGTERM to the group, SIGKILL after `graceMs`. Resolves when the shell is gone. */
  async stop(graceMs: number): Promise<void> {
    const pid = this.child.pid;
    if (pid === undefined) return;
    const signalGroup = (signal: NodeJS.Signals): void => {
      try {
        process.kill(-pid, signal);
      } catch {
        // already gone
      }
    };
    signalGroup('SIGTERM');
    const timer = setTimeout(() => signalGroup('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
    // Children that ignored SIGTERM outlive the shell: end them too, and wait until the
    // group is empty (orphans are reaped by init a moment later).
    signalGroup('SIGKILL');
    const deadline = Date.now() + Math.max(graceMs, 1000);
    while (groupExists(pid) && Date.now() < deadline) await sleep(20);
  }
}

/**
 * True while a live (not zombie) process of the group exists. Reads /proc where there is
 * one: killed orphans stay zombies until init reaps them, which some container inits do late.
 */
export function groupExists(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch {
    return false;
  }
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc').filter((e) => /^\d+$/.test(e));
  } catch {
    return true;
  }
  for (const entry of entries) {
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid pgrp ...: comm may hold spaces, so split after the last ')'.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) === pgid && fields[0] !== 'Z' && fields[0] !== 'X') return true;
    } catch {
      // gone meanwhile
    }
  }
  return false;
}
