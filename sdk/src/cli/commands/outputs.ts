import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from '@commander-js/extra-typings';
import type { Frame, OutputFile } from '../../model/frames';
import { exits, typedOption, wholeNumber, withConnection } from '../command';
import { connect } from '../connect';
import { bytes } from '../format';

/** What happened to one output. */
interface Fetched {
  readonly frameId: string;
  readonly path: string;
  readonly sizeBytes: number;
  readonly sha256: string;
  readonly action: 'fetched' | 'skipped';
  /** Bytes received over the network. */
  readonly bytesReceived: number;
}

/** `spillway outputs fetch JOB_ID --dest DIR`. */
export function register(program: Command): void {
  const outputs = program
    .command('outputs')
    .summary("fetch a job's outputs through the service")
    .description("a job's outputs, through the service");

  withConnection(
    outputs
      .command('fetch')
      .summary("fetch a job's outputs into a directory, verified")
      .description(
        "fetch the outputs of a job's succeeded frames through the service (no Blob Storage access needed) into DIR/<output path>. Each file is written beside its destination as <file>.part, checked against the size and SHA-256 recorded on the node, then renamed into place; an interrupted fetch resumes from the .part file. Files already in DIR with the right SHA-256 are skipped. Prints one line per file; with --json one JSON summary",
      )
      .argument('<JOB_ID>', 'the job (its service id)')
      .addOption(
        typedOption(
          '--dest <DIR>',
          'where to put the outputs (created if missing)',
          (v) => v,
        ).makeOptionMandatory(),
      )
      .option('--frame <FRAME_ID>', "only this frame's outputs (default: every succeeded frame)")
      .addOption(
        typedOption('--concurrency <N>', 'files fetched at once', wholeNumber({ min: 1, max: 64 })).default(
          4,
        ),
      )
      .addHelpText('after', '\nExample:\n  spillway outputs fetch j-3f2a9c --dest ./renders'),
  ).action(
    exits(async (jobId, opts) => {
      const concurrency = opts.concurrency;
      const storage = require('../../storage') as typeof import('../../storage');
      const dest = path.resolve(opts.dest);

      const abort = new AbortController();
      const onSignal = (): void => abort.abort(new Error('interrupted'));
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      const client = connect(opts);
      try {
        const frames: Frame[] = [];
        for await (const f of client.listFrames(jobId, { abortSignal: abort.signal })) {
          if (opts.frame === undefined || f.frameId === opts.frame) frames.push(f);
        }
        if (opts.frame !== undefined) {
          const only = frames[0];
          if (!only) throw new Error(`frame ${opts.frame} is not a frame of job ${jobId}`);
          if (only.state !== 'succeeded') {
            throw new Error(
              `frame ${opts.frame} is ${only.state}, not succeeded: it has no outputs to fetch yet`,
            );
          }
        }
        const succeeded = frames.filter((f) => f.state === 'succeeded');
        const unfinished = frames.length - succeeded.length;

        // Every local path is checked (and collisions found) before anything is fetched.
        const plan: { frameId: string; file: OutputFile; local: string }[] = [];
        const byPath = new Map<string, { frameId: string; file: OutputFile }>();
        for (const f of succeeded) {
          for (const [i, file] of f.outputs.entries()) {
            const local = storage.resolveInside(dest, file.path, `frame ${f.frameId} outputs[${i}].path`);
            const twin = byPath.get(local);
            if (twin) {
              if (twin.file.sha256 === file.sha256) continue; // the same bytes: fetched once
              throw new Error(
                `frames ${twin.frameId} and ${f.frameId} both produce ${JSON.stringify(file.path)} with different ` +
                  'content; fetch them one at a time with --frame FRAME_ID into different --dest directories',
              );
            }
            byPath.set(local, { frameId: f.frameId, file });
            plan.push({ frameId: f.frameId, file, local });
          }
        }

        const results: Fetched[] = [];
        const started = Date.now();
        await storage.forEachLimited(
          plan,
          concurrency,
          async ({ frameId, file, local }) => {
            let result: Fetched;
            if (await alreadyThere(local, file, abort.signal)) {
              result = {
                frameId,
                path: file.path,
                sizeBytes: file.sizeBytes,
                sha256: file.sha256,
                action: 'skipped',
                bytesReceived: 0,
              };
            } else {
              const got = await client.assets.fetchOutput(frameId, file.path, local, {
                resume: true,
                abortSignal: abort.signal,
              });
              result = {
                frameId,
                path: file.path,
                sizeBytes: got.sizeBytes,
                sha256: got.sha256,
                action: 'fetched',
                bytesReceived: got.bytesReceived,
              };
            }
            results.push(result);
            if (!opts.json) {
              const what = result.action === 'fetched' ? 'fetched' : 'skipped (already there)';
              console.log(
                `[${results.length}/${plan.length}] ${what} ${file.path} (${bytes(file.sizeBytes)}) from frame ${frameId}`,
              );
            }
          },
          abort.signal,
        );
        const fetched = results.filter((r) => r.action === 'fetched');
        const summary = {
          jobId,
          dest,
          frames: succeeded.length,
          framesNotSucceeded: unfinished,
          files: results.length,
          fetched: fetched.length,
          skipped: results.length - fetched.length,
          bytesFetched: fetched.reduce((n, r) => n + r.bytesReceived, 0),
          durationMs: Date.now() - started,
          outputs: results.map((r) => ({ ...r, localPath: path.join(dest, ...r.path.split('/')) })),
        };
        if (opts.json) console.log(JSON.stringify(summary));
        else {
          console.log(
            `${summary.fetched} fetched, ${summary.skipped} skipped (${bytes(summary.bytesFetched)}) from ` +
              `${summary.frames} succeeded frame(s) into ${dest}` +
              (unfinished > 0 ? `; ${unfinished} frame(s) of the job have not succeeded` : ''),
          );
        }
        return 0;
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        client.close();
      }
    }),
  );
}

/** True when `local` is a file with the output's size and SHA-256. */
async function alreadyThere(local: string, file: OutputFile, signal: AbortSignal): Promise<boolean> {
  try {
    const st = await fs.promises.stat(local);
    if (!st.isFile() || st.size !== file.sizeBytes) return false;
  } catch {
    return false;
  }
  const { hashFile } = require('../../storage') as typeof import('../../storage');
  return (await hashFile(local, signal)) === file.sha256;
}
