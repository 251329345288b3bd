import { ValidationError } from '../../errors';
import { GROUP_NAME } from '../../model/validate';
import { validateMounts } from '../../storage/mounts';
import type { ComputeJobSpec, ComputeTaskSpec, GroupSpec, ResizeTarget } from '../backend';

/** Batch ids: letters, digits, hyphens and underscores, 1-64 characters. */
export const BATCH_ID = /^[A-Za-z0-9_-]{1,64}$/;
export { GROUP_NAME };
/**
 * The longest command line Spillway sends: 8,191 characters, the limit of a Windows node's
 * command interpreter. Longer commands belong in a script shipped as a resource file.
 */
export const MAX_COMMAND_LINE = 8191;
/** Most tasks per add-collection call (a Batch limit). */
export const MAX_TASKS_PER_CALL = 100;
/** Most bytes per add-collection request body (a Batch limit: 1 MB). */
export const MAX_BODY_BYTES = 1024 * 1024;
/** Most node ids per remove-nodes call (a Batch limit). */
export const MAX_NODES_PER_REMOVE = 100;
/** Most task slots per node Batch allows. */
export const MAX_TASK_SLOTS = 256;

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const CONDITIONS = new Set(['taskSuccess', 'taskFailure', 'taskCompletion']);

function count(field: string, value: unknown, min = 0): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new ValidationError(field, value, `must be a whole number of at least ${min}`);
  }
}

function duration(field: string, value: unknown): void {
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new ValidationError(field, value, 'must be a positive number of milliseconds');
  }
}

/** Checks a group spec; `requireImage` for backends that boot real VMs. Throws a ValidationError naming the field. */
export function validateGroupSpec(spec: GroupSpec, options: { requireImage?: boolean } = {}): void {
  if (typeof spec.name !== 'string' || !GROUP_NAME.test(spec.name)) {
    throw new ValidationError(
      'group.name',
      spec.name,
      'must be 1-64 characters of a-z, 0-9 and "-", starting with a letter',
    );
  }
  if (typeof spec.vmSize !== 'string' || spec.vmSize.trim() === '') {
    throw new ValidationError('group.vmSize', spec.vmSize, 'must name a VM size, e.g. "Standard_D16as_v5"');
  }
  count('group.maxDedicatedNodes', spec.maxDedicatedNodes);
  count('group.maxSpotNodes', spec.maxSpotNodes);
  if (spec.taskSlotsPerNode !== undefined) {
    count('group.taskSlotsPerNode', spec.taskSlotsPerNode, 1);
    if (spec.taskSlotsPerNode > MAX_TASK_SLOTS) {
      throw new ValidationError(
        'group.taskSlotsPerNode',
        spec.taskSlotsPerNode,
        `must be at most ${MAX_TASK_SLOTS}`,
      );
    }
  }
  duration('group.resizeTimeoutMs', spec.resizeTimeoutMs);
  if (spec.startTaskCommand !== undefined) commandLine('group.startTaskCommand', spec.startTaskCommand);
  if (spec.mounts !== undefined) validateMounts(spec.mounts, 'group.mounts');
  if (options.requireImage) {
    const image = spec.image;
    if (!image)
      throw new ValidationError(
        'group.image',
        image,
        'is required by Azure Batch: give an image reference and nodeAgentSkuId',
      );
    if (!image.virtualMachineImageId && !(image.publisher && image.offer && image.sku)) {
      throw new ValidationError(
        'group.image',
        image,
        'needs publisher, offer and sku, or virtualMachineImageId',
      );
    }
    if (!image.nodeAgentSkuId) {
      throw new ValidationError(
        'group.image.nodeAgentSkuId',
        image.nodeAgentSkuId,
        'is required, e.g. "batch.node.ubuntu 22.04"',
      );
    }
  }
}

/** Checks resize targets against the group's bounds. */
export function validateResizeTarget(
  target: ResizeTarget,
  bounds?: { maxDedicatedNodes: number; maxSpotNodes: number },
): void {
  count('target.dedicated', target.dedicated);
  count('target.spot', target.spot);
  if (bounds && target.dedicated > bounds.maxDedicatedNodes) {
    throw new ValidationError(
      'target.dedicated',
      target.dedicated,
      `is above the group's maxDedicatedNodes (${bounds.maxDedicatedNodes})`,
    );
  }
  if (bounds && target.spot > bounds.maxSpotNodes) {
    throw new ValidationError(
      'target.spot',
      target.spot,
      `is above the group's maxSpotNodes (${bounds.maxSpotNodes})`,
    );
  }
}

function commandLine(field: string, value: unknown): void {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new ValidationError(field, value, 'must be a non-empty command');
  }
  if (value.length > MAX_COMMAND_LINE) {
    throw new ValidationError(
      field,
      value,
      `is ${value.length} characters, over the ${MAX_COMMAND_LINE}-character limit; ship a script as a resource file instead`,
    );
  }
}

function environment(field: string, env: Readonly<Record<string, string>> | undefined): void {
  for (const [k, v] of Object.entries(env ?? {})) {
    if (!ENV_NAME.test(k))
      throw new ValidationError(`${field}`, k, 'has a name that is not a valid environment variable name');
    if (typeof v !== 'string') throw new ValidationError(`${field}.${k}`, v, 'must be a string');
  }
}

/** Checks a Batch-style id (job or task). */
export function validateId(field: string, id: unknown): void {
  if (typeof id !== 'string' || !BATCH_ID.test(id)) {
    throw new ValidationError(field, id, 'must be 1-64 characters of letters, digits, "-" and "_"');
  }
}

/** Checks a job spec. */
export function validateJobSpec(spec: ComputeJobSpec): void {
  validateId('job.id', spec.id);
  if (typeof spec.group !== 'string' || spec.group === '')
    throw new ValidationError('job.group', spec.group, 'must name a group');
  environment('job.environment', spec.environment);
  if (spec.maxTaskRetryCount !== undefined) count('job.maxTaskRetryCount', spec.maxTaskRetryCount, -1);
  for (const [name, cmd] of [
    ['job.preparation', spec.preparation],
    ['job.release', spec.release],
  ] as const) {
    if (!cmd) continue;
    commandLine(`${name}.commandLine`, cmd.commandLine);
    environment(`${name}.environment`, cmd.environment);
    duration(`${name}.maxWallClockMs`, cmd.maxWallClockMs);
  }
}

/** Checks tasks before any is sent: ids, duplicates (Batch ids are case-insensitive), commands, files. */
export function validateTasks(tasks: readonly ComputeTaskSpec[]): void {
  const seen = new Map<string, number>();
  tasks.forEach((t, i) => {
    const at = `tasks[${i}]`;
    validateId(`${at}.id`, t.id);
    const key = t.id.toLowerCase();
    const first = seen.get(key);
    if (first !== undefined)
      throw new ValidationError(`${at}.id`, t.id, `repeats tasks[${first}].id (Batch ids ignore case)`);
    seen.set(key, i);
    commandLine(`${at}.commandLine`, t.commandLine);
    environment(`${at}.environment`, t.environment);
    duration(`${at}.maxWallClockMs`, t.maxWallClockMs);
    if (t.maxTaskRetryCount !== undefined) count(`${at}.maxTaskRetryCount`, t.maxTaskRetryCount, -1);
    (t.resourceFiles ?? []).forEach((f, j) => {
      if (!f.httpUrl === !f.storageContainerUrl) {
        throw new ValidationError(
          `${at}.resourceFiles[${j}]`,
          f.filePath ?? '',
          'needs exactly one of httpUrl or storageContainerUrl',
        );
      }
    });
    (t.outputFiles ?? []).forEach((f, j) => {
      if (!CONDITIONS.has(f.uploadCondition)) {
        throw new ValidationError(
          `${at}.outputFiles[${j}].uploadCondition`,
          f.uploadCondition,
          'must be taskSuccess, taskFailure or taskCompletion',
        );
      }
      if (!f.filePattern)
        throw new ValidationError(`${at}.outputFiles[${j}].filePattern`, f.filePattern, 'must not be empty');
      if (!/^https?:\/\//.test(f.containerUrl ?? '')) {
        throw new ValidationError(
          `${at}.outputFiles[${j}].containerUrl`,
          '<redacted>',
          'must be an http(s) container URL with a write SAS',
        );
      }
    });
  });
}
