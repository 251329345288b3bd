import { ValidationError } from '../errors';
import { normaliseRelativePath } from '../storage/paths';
import type { FrameSpec, JobSpec } from './frames';

/** Limits of one submission. */
export const SUBMIT_LIMITS = {
  /** Frames per SubmitFrames call. */
  maxFramesPerCall: 10_000,
  /** Characters of a rendered command (Batch's command-line limit is 8,191). */
  maxCommandLength: 8_000,
  maxIdLength: 256,
  maxEnvironmentEntries: 100,
  /** Output patterns per job. */
  maxOutputPatterns: 100,
  /** Longest frame timeout: what a timer holds (2^31-1 ms, about 24.8 days). */
  maxFrameTimeoutMs: 2 ** 31 - 1,
} as const;

/** A manifest id: the SHA-256 (hex) of a committed manifest. */
const MANIFEST_ID = /^[0-9a-f]{64}$/;

const SOURCE = /^[A-Za-z0-9._:-]{1,128}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
/**
 * Capacity group names per the contract (and backend names, which follow the same rule):
 * 1-64 of `[a-z0-9-]`, starting with a letter. The one copy of the rule.
 */
export const GROUP_NAME = /^[a-z][a-z0-9-]{0,63}$/;
const GROUP = GROUP_NAME;

/**
 * Checks a submission before anything is stored or sent. Throws `ValidationError` naming
 * the wire field path (`job.source`, `frames[3].frame_end`) and quoting the value.
 */
export function validateSubmission(job: JobSpec, frames: readonly FrameSpec[]): void {
  if (!SOURCE.test(job.source)) {
    throw new ValidationError('job.source', job.source, 'must be 1-128 characters of A-Z a-z 0-9 . _ : -');
  }
  id('job.source_job_id', job.sourceJobId);
  if (job.name !== undefined) id('job.name', job.name);
  if (job.capacityGroup !== undefined && !GROUP.test(job.capacityGroup)) {
    throw new ValidationError(
      'job.capacity_group',
      job.capacityGroup,
      'must be 1-64 characters of a-z 0-9 -, starting with a letter',
    );
  }
  if (
    job.priority !== undefined &&
    !(Number.isInteger(job.priority) && job.priority >= 0 && job.priority <= 100)
  ) {
    throw new ValidationError('job.priority', job.priority, 'must be a whole number from 0 to 100');
  }
  if (job.maxRetries !== undefined && !(Number.isInteger(job.maxRetries) && job.maxRetries <= 100)) {
    throw new ValidationError('job.max_retries', job.maxRetries, 'must be a whole number from 0 to 100');
  }
  if (job.sharedOutput !== undefined) {
    const { mount, path } = job.sharedOutput;
    if (typeof mount !== 'string' || !/^[a-z][a-z0-9_-]{0,31}$/.test(mount))
      throw new ValidationError(
        'job.output.shared.mount',
        mount,
        "must name a mount of the job's capacity group",
      );
    if (
      typeof path !== 'string' ||
      path.length > 1024 ||
      path.startsWith('/') ||
      // eslint-disable-next-line no-control-regex
      /[\u0000-\u001f\u007f"`$\\]/.test(path) ||
      path.split('/').some((s) => s === '..')
    )
      throw new ValidationError(
        'job.output.shared.path',
        path,
        'must be a relative directory below the mount, without "..", quotes, $, ` or control characters',
      );
  }
  if (
    job.frameTimeoutMs !== undefined &&
    !(job.frameTimeoutMs > 0 && job.frameTimeoutMs <= SUBMIT_LIMITS.maxFrameTimeoutMs)
  ) {
    throw new ValidationError(
      'job.frame_timeout',
      `${job.frameTimeoutMs} ms`,
      `must be positive and at most ${SUBMIT_LIMITS.maxFrameTimeoutMs} ms (about 24.8 days) when set`,
    );
  }
  if (job.gpus !== undefined && !(Number.isInteger(job.gpus) && job.gpus >= 0 && job.gpus <= 16)) {
    throw new ValidationError('job.gpus', job.gpus, 'must be a whole number from 0 to 16');
  }
  environment('job.environment', job.environment);
  command('job.command_template', job.commandTemplate, true);
  if (job.assetManifestId !== undefined && !MANIFEST_ID.test(job.assetManifestId)) {
    throw new ValidationError(
      'job.asset_manifest_id',
      job.assetManifestId,
      'must be a manifest id (64 lower-case hex digits, from CommitManifest or `spillway assets sync`)',
    );
  }
  const patterns = job.outputPatterns ?? [];
  if (patterns.length > SUBMIT_LIMITS.maxOutputPatterns) {
    throw new ValidationError(
      'job.output.patterns',
      `${patterns.length} patterns`,
      `must have at most ${SUBMIT_LIMITS.maxOutputPatterns}`,
    );
  }
  // Globs below the frame's output directory: the node collects them, and nothing else.
  patterns.forEach((p, i) => normaliseRelativePath(p, `job.output.patterns[${i}]`));
  if (frames.length === 0) throw new ValidationError('frames', [], 'must hold at least one frame');
  if (frames.length > SUBMIT_LIMITS.maxFramesPerCall) {
    throw new ValidationError(
      'frames',
      `${frames.length} frames`,
      `must hold at most ${SUBMIT_LIMITS.maxFramesPerCall} frames per call; split the submission`,
    );
  }
  const seen = new Set<string>();
  frames.forEach((f, i) => {
    const at = `frames[${i}]`;
    id(`${at}.source_task_id`, f.sourceTaskId);
    if (seen.has(f.sourceTaskId)) {
      throw new ValidationError(
        `${at}.source_task_id`,
        f.sourceTaskId,
        'is repeated in this call; keys must be unique',
      );
    }
    seen.add(f.sourceTaskId);
    if (!Number.isSafeInteger(f.frameStart)) {
      throw new ValidationError(`${at}.frame_start`, f.frameStart, 'must be a whole number');
    }
    if (!Number.isSafeInteger(f.frameEnd) || f.frameEnd < f.frameStart) {
      throw new ValidationError(
        `${at}.frame_end`,
        f.frameEnd,
        `must be a whole number >= frame_start (${f.frameStart})`,
      );
    }
    if (f.frameStep !== undefined && !(Number.isInteger(f.frameStep) && f.frameStep >= 0)) {
      throw new ValidationError(`${at}.frame_step`, f.frameStep, 'must be a whole number >= 0');
    }
    if (f.command === undefined && job.commandTemplate.trim() === '') {
      throw new ValidationError(
        `${at}.command`,
        '',
        'is required when job.command_template is empty: give a template or a command per frame',
      );
    }
    if (f.command !== undefined) command(`${at}.command`, f.command, false);
    environment(`${at}.environment`, f.environment);
  });
}

/** A command (or template; blank allowed, as per-frame commands may stand in): length, no NUL. */
function command(field: string, value: string, blankAllowed: boolean): void {
  if (value.length > SUBMIT_LIMITS.maxCommandLength) {
    throw new ValidationError(
      field,
      `${value.length} characters`,
      `must be at most ${SUBMIT_LIMITS.maxCommandLength} characters`,
    );
  }
  if (value.includes('\0')) throw new ValidationError(field, value, 'must not contain NUL');
  if (!blankAllowed && value.trim() === '') {
    throw new ValidationError(field, value, 'must not be blank; leave it unset to use job.command_template');
  }
}

function id(field: string, value: string): void {
  // eslint-disable-next-line no-control-regex
  if (value.length === 0 || value.length > SUBMIT_LIMITS.maxIdLength || /[\u0000-\u001f\u007f]/.test(value)) {
    throw new ValidationError(
      field,
      value.length > SUBMIT_LIMITS.maxIdLength ? `${value.length} characters` : value,
      `must be 1-${SUBMIT_LIMITS.maxIdLength} characters with no NUL, line breaks or other control characters`,
    );
  }
}

function environment(field: string, env: Readonly<Record<string, string>> | undefined): void {
  if (!env) return;
  const names = Object.keys(env);
  if (names.length > SUBMIT_LIMITS.maxEnvironmentEntries) {
    throw new ValidationError(
      field,
      `${names.length} entries`,
      `must have at most ${SUBMIT_LIMITS.maxEnvironmentEntries}`,
    );
  }
  for (const name of names) {
    if (!ENV_NAME.test(name)) {
      throw new ValidationError(
        `${field}[${JSON.stringify(name)}]`,
        name,
        'is not a valid environment variable name',
      );
    }
  }
}
