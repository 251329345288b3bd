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

        // Every local path is checked (and collisions found) before anything is fetched; a
        // path that cannot be placed is reported, and the others are still fetched.
        const plan: { frameId: string; file: OutputFile; local: string }[] = [];
        const failed: { frameId: string; path: string; error: string }[] = [];
        const byPath = new Map<string, { frameId: string; file: OutputFile }>();
        for (const f of succeeded) {
          for (const [i, file] of f.outputs.entries()) {
            let local: string;
            try {
              local = storage.resolveInside(dest, file.path, `frame ${f.frameId} outputs[${i}].path`);
            } catch (err) {
              failed.push({ frameId: f.frameId, path: file.path, error: (err as Error).message });
              continue;
            }
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
            try {
              // Never through a symbolic link: it could lead anywhere outside DIR.
              await realDirectoryInside(dest, path.dirname(local));
              await refuseLink(local);
              await refuseLink(`${local}.part`);
            } catch (err) {
              failed.push({ frameId, path: file.path, error: (err as Error).message });
              if (!opts.json)
                console.log(`could not fetch ${file.path} from frame ${frameId}: ${(err as Error).message}`);
              return;
            }
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
              let got: Awaited<ReturnType<typeof client.assets.fetchOutput>>;
              try {
                got = await client.assets.fetchOutput(frameId, file.path, local, {
                  resume: true,
                  abortSignal: abort.signal,
                });
              } catch (err) {
                if (abort.signal.aborted) throw err;
                // Not interrupted: nothing to resume from; no partial file is left behind.
                await fs.promises.rm(`${local}.part`, { force: true });
                failed.push({ frameId, path: file.path, error: (err as Error).message });
                if (!opts.json)
                  console.log(
                    `could not fetch ${file.path} from frame ${frameId}: ${(err as Error).message}`,
                  );
                return;
              }
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
          failed,
        };
        if (opts.json) console.log(JSON.stringify(summary));
        else {
          console.log(
            `${summary.fetched} fetched, ${summary.skipped} skipped (${bytes(summary.bytesFetched)}) from ` +
              `${summary.frames} succeeded frame(s) into ${dest}` +
              (unfinished > 0 ? `; ${unfinished} frame(s) of the job have not succeeded` : ''),
          );
          for (const f of failed)
            console.log(`  not returned: ${f.path} from frame ${f.frameId}: ${f.error}`);
        }
        if (failed.length > 0) {
          if (!opts.json)
            console.error(
              `${failed.length} of ${failed.length + results.length} output(s) could not be returned`,
            );
          return 1;
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

/**
 * Makes `dir` (inside `root`) a real directory, refusing any symbolic link on the way down
 * from `root`: an output is never written through a link, wherever it points.
 */
async function realDirectoryInside(root: string, dir: string): Promise<void> {
  await fs.promises.mkdir(root, { recursive: true });
  const rel = path.relative(root, dir);
  let at = root;
  for (const part of rel === '' ? [] : rel.split(path.sep)) {
    at = path.join(at, part);
    let st: fs.Stats | undefined;
    try {
      st = await fs.promises.lstat(at);
    } catch {
      st = undefined;
    }
    if (!st)
      await fs.promises.mkdir(at).catch((e: NodeJS.ErrnoException) => {
        if (e.code !== 'EEXIST') throw e;
      });
    else if (st.isSymbolicLink())
      throw new Error(`${at} is a symbolic link; outputs are never written through one`);
    else if (!st.isDirectory()) throw new Error(`${at} is not a directory`);
  }
}

/** Refuses a destination that is a symbolic link (writing it would write where it points). */
async function refuseLink(file: string): Promise<void> {
  try {
    if ((await fs.promises.lstat(file)).isSymbolicLink()) {
      throw new Error(`${file} is a symbolic link; outputs are never written through one`);
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
