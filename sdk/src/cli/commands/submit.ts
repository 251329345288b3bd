import * as fs from 'node:fs';
import * as os from 'node:os';
import { parseArgs } from 'node:util';
import { chunkFrames, parseFrameRange } from '../../compute/frames';
import type { FrameSpec, JobSpec } from '../../model/frames';
import type { Command } from '../command';
import { UsageError } from '../command';
import { connect, connectHelp, connectOptions } from './connect';
import { watchJob } from './watch';

const help = `Usage: spillway submit --frames RANGE --command TEMPLATE [options]
       spillway submit --job-file JOB.json [options]

Submits frames to the burst service. Idempotent: submitting the same job id and frames
again adds nothing.

  --frames RANGE        frames: 1-100, 1-100:2, 1,3,5-7
  --chunk N             frames per task (default 1)
  --command TEMPLATE    run per task, with tokens #IFRAME# #ZFRAME# #FRAME_START# #FRAME_END#
                        #FRAMESPEC# #JOB# #LAYER#; runs in the task's directory, outputs in out/
  --job-id ID           the job's id at its source (default: cli-<time>)
  --source NAME         who owns the job (default: cli:<user>)
  --name NAME           human-readable name
  --group NAME          capacity group (default: the service's)
  --priority N          0-100 (default 50)
  --retries N           cloud retries before giving the frame back (default 0)
  --env K=V             environment variable; repeatable
  --manifest ID         asset manifest from \`spillway assets sync\`
  --outputs GLOB        output files to bring back; repeatable (default out/**)
  --job-file FILE       a JSON job: {"job": JobSpec, "frames": [FrameSpec]} (SDK field names)
  --watch               then watch the job to the end
${connectHelp}

Example:
  spillway submit --frames 1-24 --command 'mkdir -p out && echo #IFRAME# > out/f_#ZFRAME#.txt' --watch`;

export const submitCommand: Command = {
  name: 'submit',
  summary: 'submit frames (a range and a command template, or a job file)',
  help,
  async run(args) {
    const { values } = parseArgs({
      args,
      options: {
        ...connectOptions,
        frames: { type: 'string' },
        chunk: { type: 'string', default: '1' },
        command: { type: 'string' },
        'job-id': { type: 'string' },
        source: { type: 'string' },
        name: { type: 'string' },
        group: { type: 'string' },
        priority: { type: 'string' },
        retries: { type: 'string' },
        env: { type: 'string', multiple: true },
        manifest: { type: 'string' },
        outputs: { type: 'string', multiple: true },
        'job-file': { type: 'string' },
        watch: { type: 'boolean', default: false },
      },
    });
    let job: JobSpec;
    let frames: FrameSpec[];
    if (values['job-file']) {
      const parsed = JSON.parse(fs.readFileSync(values['job-file'], 'utf8')) as {
        job?: JobSpec;
        frames?: FrameSpec[];
      };
      if (!parsed.job || !Array.isArray(parsed.frames)) {
        throw new UsageError(`--job-file ${values['job-file']}: expected {"job": {...}, "frames": [...]}`);
      }
      job = { ...parsed.job, ...(parsed.job.deadline ? { deadline: new Date(parsed.job.deadline) } : {}) };
      frames = parsed.frames;
    } else {
      if (!values.frames) throw new UsageError('--frames is required (or --job-file)');
      if (!values.command) throw new UsageError('--command is required (or --job-file)');
      const chunk = Number(values.chunk);
      frames = chunkFrames(parseFrameRange(values.frames, '--frames'), chunk).map((c) => ({
        sourceTaskId: c.start === c.end ? String(c.start) : `${c.start}-${c.end}`,
        frameStart: c.start,
        frameEnd: c.end,
        frameStep: c.step,
      }));
      const env: Record<string, string> = {};
      for (const kv of values.env ?? []) {
        const eq = kv.indexOf('=');
        if (eq <= 0) throw new UsageError(`--env ${JSON.stringify(kv)}: expected NAME=VALUE`);
        env[kv.slice(0, eq)] = kv.slice(eq + 1);
      }
      job = {
        source: values.source ?? `cli:${os.userInfo().username}`,
        sourceKind: 'client',
        sourceJobId: values['job-id'] ?? `cli-${Date.now()}`,
        commandTemplate: values.command,
        ...(values.name ? { name: values.name } : {}),
        ...(values.group ? { capacityGroup: values.group } : {}),
        ...(values.priority ? { priority: Number(values.priority) } : {}),
        ...(values.retries ? { maxRetries: Number(values.retries) } : {}),
        ...(Object.keys(env).length ? { environment: env } : {}),
        ...(values.manifest ? { assetManifestId: values.manifest } : {}),
        ...(values.outputs ? { outputPatterns: values.outputs } : {}),
      };
    }
    const client = connect(values);
    try {
      const result = await client.submitFrames(job, frames);
      const created = result.frames.filter((f) => f.created).length;
      if (values.json)
        console.log(JSON.stringify({ jobId: result.jobId, submitted: frames.length, created }));
      else console.log(`job ${result.jobId}: ${frames.length} tasks submitted, ${created} new`);
      if (values.watch) return await watchJob(client, result.jobId, { json: values.json ?? false });
      return 0;
    } finally {
      client.close();
    }
  },
};
