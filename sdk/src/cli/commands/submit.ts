import * as fs from 'node:fs';
import * as os from 'node:os';
import type { Command } from '@commander-js/extra-typings';
import { countChunks, iterateChunks, parseFrameRange, type FrameRun } from '../../model/frame-range';
import { quote, ValidationError } from '../../errors';
import type { FrameSpec, JobSpec } from '../../model/frames';
import {
  exits,
  keyValue,
  printJson,
  repeatable,
  typedOption,
  UsageError,
  wholeNumber,
  withConnection,
} from '../command';
import { connect } from '../connect';
import { progressBar } from '../progress';
import { watchJob } from './watch';

const TOKENS = '#IFRAME# #ZFRAME# #FRAME_START# #FRAME_END# #FRAMESPEC# #JOB# #LAYER#';

/** `spillway submit`. */
export function register(program: Command): void {
  withConnection(
    program
      .command('submit')
      .summary('submit frames: a range and a command template, or a job file')
      .description(
        'submit frames: a range and a command template, or a job file. Idempotent: submitting the same job id and frames again adds nothing. A range of any length is sent as it is generated, in calls the service accepts',
      )
      .addOption(
        typedOption('--frames <RANGE>', 'frames: 1-100, 1-100:2, 1,3,5-7', (v): FrameRun[] =>
          parseFrameRange(v, '--frames'),
        ),
      )
      .addOption(typedOption('--chunk <N>', 'frames per task', wholeNumber({ min: 1 })).default(1))
      .option(
        '--command <TEMPLATE>',
        `run per task in its own directory (outputs in out/), with the tokens ${TOKENS}`,
      )
      .option('--job-id <ID>', 'the job id at its source (default: cli-<time>)')
      .option('--source <NAME>', 'who owns the job (default: cli:<user>)')
      .option('--name <NAME>', 'human-readable name')
      .option('--group <NAME>', "capacity group (default: the service's)")
      .addOption(
        typedOption('--priority <N>', 'priority, higher first (default: 50)', wholeNumber({ max: 100 })),
      )
      .addOption(
        typedOption(
          '--retries <N>',
          'cloud retries before giving the frame back (default: 0)',
          wholeNumber({ max: 100 }),
        ),
      )
      .addOption(typedOption('--env <NAME=VALUE>', 'environment variable; repeatable', keyValue))
      .addOption(
        typedOption(
          '--gpus <N>',
          'GPUs each task needs: the job runs only on a capacity group with that many per node (default: 0, a CPU job)',
          wholeNumber({ max: 16 }),
        ),
      )
      .option('--manifest <ID>', 'asset manifest from `spillway assets sync`')
      .addOption(
        typedOption(
          '--outputs <GLOB>',
          'output files to bring back; repeatable (default: out/**)',
          repeatable,
        ),
      )
      .addOption(
        typedOption(
          '--job-file <FILE>',
          'a JSON job: {"job": JobSpec, "frames": [FrameSpec]} (SDK field names)',
          (v) => v,
        ).conflicts(['command', 'frames']),
      )
      .addOption(
        typedOption(
          '--template <FILE>',
          'an Open Job Description 2023-09 job template (YAML or JSON): one job per step, one frame per task',
          (v) => v,
        ).conflicts(['command', 'frames', 'jobFile', 'chunk']),
      )
      .addOption(typedOption('--param <NAME=VALUE>', "a job parameter of --template's; repeatable", keyValue))
      .option('--watch', 'then watch the job to the end (exit 0 when every frame succeeded)')
      .addHelpText(
        'after',
        `
Examples:
  spillway submit --frames 1-24 --command 'mkdir -p out && echo #IFRAME# > out/f_#ZFRAME#.txt' --watch
  spillway submit --template render.yaml --param SceneFile=/shots/010.blend --param Frames=1-100 --watch`,
      ),
  ).action(
    exits(async (opts) => {
      if (opts.param && opts.template === undefined) {
        throw new UsageError('--param is for the job parameters of --template', '--param');
      }
      if (opts.template !== undefined) return submitTemplate(opts.template, opts);
      let job: JobSpec;
      let frames: Iterable<FrameSpec>;
      let total: number;
      if (opts.jobFile !== undefined) {
        ({ job, frames } = readJobFile(opts.jobFile));
        total = (frames as FrameSpec[]).length;
      } else {
        if (!opts.frames) throw new UsageError('--frames is required (or --job-file)', '--frames');
        if (opts.command === undefined)
          throw new UsageError('--command is required (or --job-file)', '--command');
        job = {
          source: opts.source ?? `cli:${os.userInfo().username}`,
          sourceKind: 'client',
          sourceJobId: opts.jobId ?? `cli-${Date.now()}`,
          commandTemplate: opts.command,
          ...(opts.name ? { name: opts.name } : {}),
          ...(opts.group ? { capacityGroup: opts.group } : {}),
          ...(opts.priority !== undefined ? { priority: opts.priority } : {}),
          ...(opts.retries !== undefined ? { maxRetries: opts.retries } : {}),
          ...(opts.env ? { environment: opts.env } : {}),
          ...(opts.gpus ? { gpus: opts.gpus } : {}),
          ...(opts.manifest ? { assetManifestId: opts.manifest } : {}),
          ...(opts.outputs ? { outputPatterns: opts.outputs } : {}),
        };
        frames = rangeFrames(opts.frames, opts.chunk);
        total = countChunks(opts.frames, opts.chunk);
      }
      const json = opts.json ?? false;
      const client = connect(opts);
      const abort = new AbortController();
      const onSigint = (): void => abort.abort(new Error('interrupted'));
      process.once('SIGINT', onSigint);
      const bar = progressBar({
        disabled: json,
        total,
        format: 'submitting [{bar}] {value}/{total} tasks  ETA {eta_formatted}',
      });
      let submitted = 0;
      let created = 0;
      let jobId = '';
      try {
        for await (const batch of client.submitFramesInBatches(job, frames, {
          abortSignal: abort.signal,
        })) {
          jobId = batch.jobId;
          submitted += batch.frames.length;
          for (const f of batch.frames) if (f.created) created++;
          bar.update(submitted);
        }
      } catch (err) {
        if (submitted === 0) throw err;
        const reason = abort.signal.aborted
          ? 'interrupted'
          : err instanceof Error
            ? err.message
            : String(err);
        throw Object.assign(err instanceof Error ? err : new Error(String(err)), {
          message: `${reason} after ${submitted} of ${total} tasks of job ${jobId} were submitted; submitting the same job again adds only the missing ones`,
        });
      } finally {
        bar.stop();
        process.off('SIGINT', onSigint);
      }
      try {
        if (json) printJson({ jobId, submitted, created });
        else console.log(`job ${jobId}: ${submitted} tasks submitted, ${created} new`);
        if (opts.watch) return await watchJob(client, jobId, { json });
        return 0;
      } finally {
        client.close();
      }
    }),
  );
}

/** What `--template` needs of the options. */
interface TemplateOptions {
  readonly param?: Record<string, string>;
  readonly jobId?: string;
  readonly source?: string;
  readonly group?: string;
  readonly priority?: number;
  readonly retries?: number;
  readonly outputs?: string[];
  readonly name?: string;
  readonly env?: Record<string, string>;
  readonly manifest?: string;
  readonly gpus?: number;
  readonly watch?: boolean;
  readonly json?: boolean;
  readonly address?: string;
  readonly tokenFile?: string;
  readonly tlsCa?: string;
}

/** `--template`: every step of an OJD job template as a job of its own, each submitted in turn. */
async function submitTemplate(file: string, opts: TemplateOptions): Promise<number> {
  for (const flag of ['name', 'env', 'manifest', 'gpus'] as const) {
    if (opts[flag] !== undefined) {
      throw new UsageError(`--${flag} does not apply to --template (the template says it)`, `--${flag}`);
    }
  }
  // The parser loads only when used: every command module is loaded to build --help.
  const ojd = require('../../ojd') as typeof import('../../ojd');
  const at = (err: unknown): never => {
    if (err instanceof ValidationError) {
      throw new UsageError(`--template ${quote(file)}: ${err.message}`, err.field);
    }
    throw err;
  };
  let jobs: import('../../ojd').TemplateJob[] = [];
  try {
    jobs = ojd.instantiateJobTemplate(ojd.readJobTemplate(file), {
      source: opts.source ?? `cli:${os.userInfo().username}`,
      ...(opts.param ? { parameters: opts.param } : {}),
      ...(opts.jobId ? { sourceJobId: opts.jobId } : {}),
      ...(opts.group ? { capacityGroup: opts.group } : {}),
      ...(opts.priority !== undefined ? { priority: opts.priority } : {}),
      ...(opts.retries !== undefined ? { maxRetries: opts.retries } : {}),
      ...(opts.outputs ? { outputPatterns: opts.outputs } : {}),
    });
  } catch (err) {
    at(err);
  }
  const json = opts.json ?? false;
  const client = connect(opts);
  try {
    const results: { step: string; jobId: string; submitted: number; created: number }[] = [];
    for (const { step, job, frames } of jobs) {
      let jobId = '';
      let submitted = 0;
      let created = 0;
      for await (const batch of client.submitFramesInBatches(job, frames)) {
        jobId = batch.jobId;
        submitted += batch.frames.length;
        for (const f of batch.frames) if (f.created) created++;
      }
      results.push({ step, jobId, submitted, created });
      if (!json)
        console.log(`job ${jobId} (step ${quote(step)}): ${submitted} tasks submitted, ${created} new`);
    }
    if (json) printJson({ jobs: results });
    let code = 0;
    if (opts.watch) {
      for (const r of results) code = Math.max(code, await watchJob(client, r.jobId, { json }));
    }
    return code;
  } finally {
    client.close();
  }
}

/** The tasks of a range, one at a time: a range of any length costs no memory. */
function* rangeFrames(runs: readonly FrameRun[], chunk: number): Generator<FrameSpec> {
  for (const c of iterateChunks(runs, chunk)) {
    yield {
      sourceTaskId: c.start === c.end ? String(c.start) : `${c.start}-${c.end}`,
      frameStart: c.start,
      frameEnd: c.end,
      frameStep: c.step,
    };
  }
}

/** Reads `--job-file`: every problem is a usage error naming the file. */
function readJobFile(file: string): { job: JobSpec; frames: FrameSpec[] } {
  const where = `--job-file ${quote(file)}`;
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(
      `${where}: cannot be read: ${(err as NodeJS.ErrnoException).code ?? err}`,
      '--job-file',
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new UsageError(
      `${where}: not valid JSON${jsonErrorPlace(text, err)}: ${(err as Error).message}`,
      '--job-file',
    );
  }
  const doc = parsed as { job?: JobSpec; frames?: FrameSpec[] } | null;
  if (
    typeof doc !== 'object' ||
    doc === null ||
    typeof doc.job !== 'object' ||
    doc.job === null ||
    !Array.isArray(doc.frames)
  ) {
    throw new UsageError(`${where}: expected {"job": {...}, "frames": [...]}`, '--job-file');
  }
  const job = doc.job;
  return {
    job: { ...job, ...(job.deadline ? { deadline: new Date(job.deadline) } : {}) },
    frames: doc.frames,
  };
}

/** ` at line L, column C` for a JSON.parse error that gives a position (or the end of a truncated file). */
function jsonErrorPlace(text: string, err: unknown): string {
  const m = /position (\d+)/.exec((err as Error).message);
  const at = m ? Number(m[1]) : /end of JSON input/.test((err as Error).message) ? text.length : undefined;
  if (at === undefined) return '';
  const before = text.slice(0, at);
  const line = before.split('\n').length;
  return ` at line ${line}, column ${at - before.lastIndexOf('\n')}`;
}
