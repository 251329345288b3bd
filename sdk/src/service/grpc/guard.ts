/**
 * The service's edge: every request of `spillway.v1` is checked here, once, against its
 * message descriptor, before any handler sees it. What no handler should have to think about
 * is refused with INVALID_ARGUMENT naming the field path and quoting the value:
 * - bytes that do not decode, and 64-bit numbers past 2^53 (JavaScript cannot hold them
 *   exactly; decoding them used to answer INTERNAL);
 * - enum numbers the contract does not define (`spec.backend = 99`);
 * - strings with NUL or control characters, or longer than their field allows (1,024
 *   characters unless the table below says otherwise);
 * - durations that are negative, malformed, or longer than a timer can hold (2^31-1 ms,
 *   about 24.8 days); timestamps that are not dates; doubles that are not finite;
 * - lists and maps with more entries than their field allows;
 * - per-field bounds: node counts within what Azure Batch pools and VM Scale Sets allow,
 *   capacity group names, ids.
 * What a request means (a frame range, a capacity group's maxima) is the domain's to check.
 */
import type { ServiceDefinition } from '@grpc/grpc-js';
import { createFileRegistry, fromBinary, type DescField, type DescMessage } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { ValidationError } from '../../errors';
import { GROUP_NAME } from '../../model/validate';
import { durationFromWire } from '../../model/wire-mapping';
import { SPILLWAY_V1_DESCRIPTOR_SET_BASE64 } from '../../wire';

/** Longest a timer can wait: Node's timers overflow past 2^31-1 ms (and fire at once). */
export const MAX_DURATION_MS = 2 ** 31 - 1;

/**
 * Most nodes of one priority a capacity group may have. A VM Scale Set holds at most 1,000
 * VMs; an Azure Batch pool on a custom image at most 2,000 dedicated and 1,000 Spot nodes
 * (other pools are bounded by core quota only). 1,000 fits every backend.
 */
export const MAX_NODES_PER_GROUP = 1000;

/** Most task slots per node Azure Batch allows. */
export const MAX_TASK_SLOTS_PER_NODE = 256;

/** A rule for one field (by full proto name, e.g. `spillway.v1.JobSpec.name`). */
interface FieldRule {
  /** Characters of a string (each element of a list). @default 1024 */
  readonly maxLength?: number;
  /** Line breaks and tabs allowed (commands). @default false */
  readonly multiline?: boolean;
  /** A string must match this (when not empty), with the reason shown when it does not. */
  readonly pattern?: readonly [RegExp, string];
  /** Largest number. */
  readonly max?: number;
  /** Entries of a list or map. @default 10,000 */
  readonly maxItems?: number;
}

const GROUP_NAME_RULE: readonly [RegExp, string] = [
  GROUP_NAME,
  'must be 1-64 characters of a-z 0-9 -, starting with a letter',
];
const ID = { maxLength: 256 } as const;
const COMMAND = { maxLength: 8000, multiline: true } as const;
const NODES = { max: MAX_NODES_PER_GROUP } as const;

/** Field rules beyond the defaults. */
const RULES: Readonly<Record<string, FieldRule>> = {
  'spillway.v1.JobSpec.source_job_id': ID,
  'spillway.v1.JobSpec.name': ID,
  'spillway.v1.JobSpec.capacity_group': { pattern: GROUP_NAME_RULE },
  'spillway.v1.JobSpec.command_template': COMMAND,
  'spillway.v1.JobSpec.environment': { maxItems: 100, maxLength: 8000, multiline: true },
  'spillway.v1.OutputSpec.patterns': { maxItems: 100 },
  'spillway.v1.FrameSpec.source_task_id': ID,
  'spillway.v1.FrameSpec.command': COMMAND,
  'spillway.v1.FrameSpec.environment': { maxItems: 100, maxLength: 8000, multiline: true },
  'spillway.v1.FrameKey.source_job_id': ID,
  'spillway.v1.FrameKey.source_task_id': ID,
  'spillway.v1.GetJobRequest.source_job_id': ID,
  'spillway.v1.QueuedJob.source_job_id': ID,
  'spillway.v1.QueuedJob.name': ID,
  'spillway.v1.QueuedJob.group': ID,
  'spillway.v1.QueuedJob.pool': ID,
  'spillway.v1.QueuedJob.capacity_group': { pattern: GROUP_NAME_RULE },
  'spillway.v1.WorkerGroup.group': ID,
  'spillway.v1.FarmState.jobs': { maxItems: 10_000 },
  'spillway.v1.FarmState.workers': { maxItems: 1000 },
  'spillway.v1.CapacityGroupSpec.name': { pattern: GROUP_NAME_RULE },
  'spillway.v1.CapacityGroupSpec.max_dedicated_nodes': NODES,
  'spillway.v1.CapacityGroupSpec.max_spot_nodes': NODES,
  'spillway.v1.CapacityGroupSpec.task_slots_per_node': { max: MAX_TASK_SLOTS_PER_NODE },
  'spillway.v1.CapacityGroupSpec.labels': { maxItems: 50, maxLength: 256 },
  'spillway.v1.CostRate.billing_granularity_seconds': { max: 86_400 },
  'spillway.v1.BatchPoolOptions.start_task_command': COMMAND,
  'spillway.v1.WorkerStartup.command': COMMAND,
  'spillway.v1.WorkerStartup.groups': { maxItems: 100 },
  'spillway.v1.WorkerStartup.pools': { maxItems: 100 },
  'spillway.v1.ScaleSetOptions.subnet_id': { maxLength: 2048 },
  'spillway.v1.ImageReference.virtual_machine_image_id': { maxLength: 2048 },
  'spillway.v1.GetCapacityGroupRequest.name': { pattern: GROUP_NAME_RULE },
  'spillway.v1.ResizeCapacityGroupRequest.name': { pattern: GROUP_NAME_RULE },
  'spillway.v1.ResizeCapacityGroupRequest.target_dedicated_nodes': NODES,
  'spillway.v1.ResizeCapacityGroupRequest.target_spot_nodes': NODES,
  'spillway.v1.DeleteCapacityGroupRequest.name': { pattern: GROUP_NAME_RULE },
  'spillway.v1.ListNodesRequest.capacity_group': { pattern: GROUP_NAME_RULE },
  'spillway.v1.WatchCapacityEventsRequest.capacity_group': { pattern: GROUP_NAME_RULE },
  'spillway.v1.ListCapacityGroupsRequest.page_token': { maxLength: 256 },
  'spillway.v1.ListNodesRequest.page_token': { maxLength: 256 },
  'spillway.v1.ListJobsRequest.page_token': { maxLength: 256 },
  'spillway.v1.ListFramesRequest.page_token': { maxLength: 256 },
  'spillway.v1.WatchFramesRequest.after_cursor': { maxLength: 32 },
  'spillway.v1.WatchCapacityEventsRequest.after_cursor': { maxLength: 32 },
  'spillway.v1.PlanAssetSyncRequest.entries': { maxItems: 100_000 },
  'spillway.v1.CommitManifestRequest.entries': { maxItems: 100_000 },
  'spillway.v1.RecallFramesRequest.keys': { maxItems: 10_000 },
};

const DEFAULT_MAX_LENGTH = 1024;
/* eslint-disable no-control-regex */
const CONTROL = /[\u0000-\u001f\u007f]/;
const CONTROL_BUT_LINES = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;
/* eslint-enable no-control-regex */
const DEFAULT_MAX_ITEMS = 10_000;

/** Marks a request the guard refused; the handler wrappers throw its error. */
const REFUSED = Symbol('refused request');

/** A request the guard refused, in place of the decoded message. */
interface RefusedRequest {
  readonly [REFUSED]: ValidationError;
}

/** The error of a refused request, or undefined for a request that passed the guard. */
export function refusal(request: unknown): ValidationError | undefined {
  return typeof request === 'object' && request !== null && REFUSED in request
    ? (request as RefusedRequest)[REFUSED]
    : undefined;
}

let registry: ReturnType<typeof createFileRegistry> | undefined;
function descriptors(): ReturnType<typeof createFileRegistry> {
  registry ??= createFileRegistry(
    fromBinary(FileDescriptorSetSchema, Buffer.from(SPILLWAY_V1_DESCRIPTOR_SET_BASE64, 'base64')),
  );
  return registry;
}

/** The request message descriptor of a method path (`/spillway.v1.FrameService/SubmitFrames`). */
function requestType(methodPath: string): DescMessage | undefined {
  const m = /^\/([^/]+)\/([^/]+)$/.exec(methodPath);
  if (!m) return undefined;
  const service = descriptors().getService(m[1]!);
  return service?.methods.find((x) => x.name === m[2])?.input;
}

/**
 * The service definition with every request checked on arrival (see the module comment):
 * a request that fails is handed to the handler as a refusal, which `unary`, `serverStream`
 * and `clientStream` answer with INVALID_ARGUMENT before the handler runs. Deserializing
 * never throws, so nothing a client sends becomes INTERNAL.
 */
export function guardDefinition<T extends ServiceDefinition>(definition: T): T {
  const guarded: Record<string, unknown> = {};
  for (const [name, method] of Object.entries(definition)) {
    const type = requestType(method.path);
    if (!type) {
      guarded[name] = method;
      continue;
    }
    const decode = method.requestDeserialize;
    guarded[name] = {
      ...method,
      requestDeserialize: (bytes: Buffer): unknown => {
        let message: unknown;
        try {
          message = decode(bytes);
        } catch (err) {
          return { [REFUSED]: whyUndecodable(type, bytes, err) } satisfies RefusedRequest;
        }
        try {
          checkMessage(type, message as Record<string, unknown>, '');
        } catch (err) {
          if (err instanceof ValidationError) return { [REFUSED]: err } satisfies RefusedRequest;
          throw err;
        }
        return message;
      },
    };
  }
  return guarded as T;
}

/** Why bytes did not decode: the first 64-bit number past 2^53, by field path, or the decoder's reason. */
function whyUndecodable(type: DescMessage, bytes: Buffer, err: unknown): ValidationError {
  try {
    const message = fromBinary(type, bytes) as unknown as Record<string, unknown>;
    const found = findUnsafeInteger(type, message, '');
    if (found) {
      return new ValidationError(
        found.path,
        found.value.toString(),
        `must be between -${Number.MAX_SAFE_INTEGER} and ${Number.MAX_SAFE_INTEGER} (2^53-1)`,
      );
    }
  } catch {
    // not even protobuf: reported below
  }
  const reason = err instanceof Error ? err.message : String(err);
  return new ValidationError(
    'request',
    `${bytes.length} bytes`,
    `is not a valid ${type.typeName}: ${reason}`,
  );
}

function join(path: string, name: string): string {
  return path ? `${path}.${name}` : name;
}

/** Walks a protobuf-es message (64-bit as bigint) for the first integer JavaScript cannot hold. */
function findUnsafeInteger(
  type: DescMessage,
  message: Record<string, unknown>,
  path: string,
): { path: string; value: bigint } | undefined {
  const unsafe = (v: unknown): v is bigint =>
    typeof v === 'bigint' && (v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER));
  for (const field of type.fields) {
    const at = join(path, field.name);
    let value: unknown = message[field.localName];
    if (field.oneof) {
      const group = message[field.oneof.localName] as { case?: string; value?: unknown } | undefined;
      if (group?.case !== field.localName) continue;
      value = group.value;
    }
    if (value === undefined) continue;
    if (field.fieldKind === 'scalar' && unsafe(value)) return { path: at, value };
    if (field.fieldKind === 'message') {
      const found = findUnsafeInteger(field.message, value as Record<string, unknown>, at);
      if (found) return found;
    }
    if (field.fieldKind === 'list') {
      const items = value as unknown[];
      for (let i = 0; i < items.length; i++) {
        if (field.listKind === 'scalar' && unsafe(items[i]))
          return { path: `${at}[${i}]`, value: items[i] as bigint };
        if (field.listKind === 'message') {
          const found = findUnsafeInteger(field.message, items[i] as Record<string, unknown>, `${at}[${i}]`);
          if (found) return found;
        }
      }
    }
    if (field.fieldKind === 'map') {
      for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
        const entry = `${at}[${JSON.stringify(key)}]`;
        if (field.mapKind === 'scalar' && unsafe(v)) return { path: entry, value: v };
        if (field.mapKind === 'message') {
          const found = findUnsafeInteger(field.message, v as Record<string, unknown>, entry);
          if (found) return found;
        }
      }
    }
  }
  return undefined;
}

/** The value of a field in a ts-proto message (oneofs as `{ $case, value }`). */
function valueOf(field: DescField, message: Record<string, unknown>): unknown {
  if (!field.oneof) return message[field.localName];
  const group = message[field.oneof.localName] as { $case?: string; value?: unknown } | undefined;
  return group?.$case === field.localName ? group.value : undefined;
}

/** Checks a decoded (ts-proto) message against its descriptor and the field rules; throws the first problem. */
export function checkMessage(type: DescMessage, message: Record<string, unknown>, path: string): void {
  if (type.typeName === 'google.protobuf.Duration') return checkDuration(message, path);
  for (const field of type.fields) {
    const value = valueOf(field, message);
    if (value === undefined || value === null) continue;
    const at = join(path, field.name);
    const rule = RULES[`${type.typeName}.${field.name}`] ?? {};
    switch (field.fieldKind) {
      case 'scalar':
        checkScalar(field.scalar, value, at, rule);
        break;
      case 'enum':
        checkEnum(field, value, at);
        break;
      case 'message':
        checkChild(field.message, value, at);
        break;
      case 'list': {
        const items = value as unknown[];
        checkCount(items.length, at, rule);
        items.forEach((item, i) => {
          const itemAt = `${at}[${i}]`;
          if (field.listKind === 'scalar') checkScalar(field.scalar, item, itemAt, rule);
          else if (field.listKind === 'enum') checkEnum(field, item, itemAt);
          else checkChild(field.message, item, itemAt);
        });
        break;
      }
      case 'map': {
        const entries = Object.entries(value as Record<string, unknown>);
        checkCount(entries.length, at, rule);
        for (const [key, v] of entries) {
          const entryAt = `${at}[${JSON.stringify(key)}]`;
          checkString(key, entryAt, { maxLength: rule.maxLength ?? DEFAULT_MAX_LENGTH });
          if (field.mapKind === 'scalar') checkScalar(field.scalar, v, entryAt, rule);
          else if (field.mapKind === 'enum') checkEnum(field, v, entryAt);
          else checkChild(field.message, v, entryAt);
        }
        break;
      }
    }
  }
}

function checkChild(type: DescMessage, value: unknown, path: string): void {
  if (type.typeName === 'google.protobuf.Timestamp') {
    if (!(value instanceof Date) || Number.isNaN(value.getTime())) {
      throw new ValidationError(path, String(value), 'must be a valid timestamp');
    }
    return;
  }
  checkMessage(type, value as Record<string, unknown>, path);
}

function checkCount(count: number, path: string, rule: FieldRule): void {
  const max = rule.maxItems ?? DEFAULT_MAX_ITEMS;
  if (count > max) throw new ValidationError(path, `${count} entries`, `must have at most ${max}`);
}

function checkScalar(scalar: number, value: unknown, path: string, rule: FieldRule): void {
  if (typeof value === 'string') return checkString(value, path, rule);
  if (typeof value === 'number') {
    // 1 double, 2 float: finite; integers decode in range, and their bounds are rules.
    if ((scalar === 1 || scalar === 2) && !Number.isFinite(value)) {
      throw new ValidationError(path, String(value), 'must be a finite number');
    }
    if (rule.max !== undefined && value > rule.max) {
      throw new ValidationError(path, value, `must be at most ${rule.max}`);
    }
  }
}

function checkString(value: string, path: string, rule: FieldRule): void {
  const max = rule.maxLength ?? DEFAULT_MAX_LENGTH;
  if (value.length > max) {
    throw new ValidationError(path, `${value.length} characters`, `must be at most ${max} characters`);
  }
  const forbidden = rule.multiline ? CONTROL_BUT_LINES : CONTROL;
  if (forbidden.test(value)) {
    throw new ValidationError(
      path,
      value,
      rule.multiline
        ? `must not contain NUL or control characters other than line breaks and tabs`
        : 'must not contain NUL, line breaks or other control characters',
    );
  }
  if (rule.pattern && value !== '' && !rule.pattern[0].test(value)) {
    throw new ValidationError(path, value, rule.pattern[1]);
  }
}

function checkEnum(field: DescField, value: unknown, path: string): void {
  const enumDesc = field.enum!;
  if (!enumDesc.values.some((v) => v.number === value)) {
    throw new ValidationError(
      path,
      value,
      `is not a ${enumDesc.name} value; use one of ${enumDesc.values.map((v) => `${v.name} (${v.number})`).join(', ')}`,
    );
  }
}

function checkDuration(message: Record<string, unknown>, path: string): void {
  const seconds = message.seconds as number;
  const nanos = message.nanos as number;
  if (seconds < 0 || nanos < 0) {
    throw new ValidationError(path, `${seconds}s ${nanos}ns`, 'must not be negative');
  }
  if (nanos > 999_999_999) {
    throw new ValidationError(`${path}.nanos`, nanos, 'must be from 0 to 999,999,999');
  }
  const ms = durationFromWire({ seconds, nanos });
  if (ms > MAX_DURATION_MS) {
    throw new ValidationError(
      path,
      `${seconds}s`,
      `must be at most ${Math.floor(MAX_DURATION_MS / 1000)} seconds (about 24.8 days, the longest a timer holds)`,
    );
  }
}
