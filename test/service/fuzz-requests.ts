/**
 * Bad requests for every RPC of `spillway.v1`, generated from the contract's own descriptors
 * with a seeded generator: a valid request per method, then one field (anywhere in it) set to
 * a hostile value of its type, or bytes that are not the message at all. The same seed gives
 * the same requests.
 */
import {
  create,
  createFileRegistry,
  fromBinary,
  toBinary,
  type DescField,
  type DescMessage,
  type DescMethod,
} from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { SPILLWAY_V1_DESCRIPTOR_SET_BASE64 } from '@spillway/sdk/wire';
import { SeededRandom } from '@spillway/sdk/policy';

export const registry = createFileRegistry(
  fromBinary(FileDescriptorSetSchema, Buffer.from(SPILLWAY_V1_DESCRIPTOR_SET_BASE64, 'base64')),
);

/** Every method of every spillway.v1 service. */
export function methods(): DescMethod[] {
  const out: DescMethod[] = [];
  for (const type of registry) {
    if (type.kind === 'service' && type.typeName.startsWith('spillway.v1.')) out.push(...type.methods);
  }
  return out;
}

const sha = 'ab'.repeat(32);

/** A valid request per method (protobuf-es init shapes), so mutations reach past the first check. */
const BASES: Record<string, Record<string, unknown>> = {
  SubmitFrames: {
    job: {
      source: 'fuzz',
      sourceJobId: 'fuzz-job',
      name: 'fuzz',
      commandTemplate: 'true',
      output: { patterns: ['**'] },
      environment: { FUZZ: '1' },
      frameTimeout: { seconds: 60n },
    },
    frames: [{ sourceTaskId: '1', frameStart: 1n, frameEnd: 1n }],
  },
  WatchFrames: { afterCursor: '', jobId: 'j-0000', source: 'fuzz' },
  RecallFrames: {
    keys: [{ source: 'fuzz', sourceJobId: 'fuzz-job', sourceTaskId: '404' }],
    reason: 'fuzz',
  },
  CancelJob: { jobId: 'j-404', reason: 'fuzz' },
  GetJob: { jobId: 'j-404' },
  ListJobs: { pageSize: 10, source: 'fuzz' },
  ListFrames: { jobId: 'j-404', pageSize: 10 },
  ListCapacityGroups: { pageSize: 10 },
  GetCapacityGroup: { name: 'default' },
  EnsureCapacityGroup: {
    spec: {
      name: 'fuzz-group',
      mode: 1,
      backend: 1,
      vmSize: 'local',
      taskSlotsPerNode: 1,
      maxDedicatedNodes: 1,
      cost: { currency: 'USD', dedicatedPerNodeHour: 1, spotPerNodeHour: 0.2 },
      resizeTimeout: { seconds: 60n },
      labels: { team: 'fuzz' },
    },
  },
  ResizeCapacityGroup: { name: 'default', targetDedicatedNodes: 2, resizeTimeout: { seconds: 60n } },
  DeleteCapacityGroup: { name: 'no-such-group' },
  ListNodes: { capacityGroup: 'default', pageSize: 10 },
  WatchCapacityEvents: { afterCursor: '', capacityGroup: 'default' },
  ReportFarmState: {
    state: {
      source: 'fuzz',
      jobs: [
        {
          sourceJobId: 'farm-1',
          name: 'farm',
          priority: 50,
          group: 'gpu',
          queuedFrames: 10,
          frameTime: { seconds: 30n },
          burstable: true,
        },
      ],
      workers: [{ group: 'gpu', idleWorkers: 0, busyWorkers: 2 }],
    },
  },
  GetBurstStatus: {},
  PlanAssetSync: { entries: [{ path: 'scene/shot.blend', sizeBytes: 3n, sha256: sha }] },
  UploadContent: { header: { sha256: sha, sizeBytes: 3n } },
  CommitManifest: { entries: [{ path: 'scene/shot.blend', sizeBytes: 3n, sha256: sha }], name: 'fuzz' },
  GetManifest: { manifestId: sha },
  FetchOutput: { frameId: 'f-404', path: 'out/f.png', offset: 0n },
};

const HOSTILE_STRINGS: readonly (string | (() => string))[] = [
  '',
  '\0',
  'a\0b',
  'line\nbreak',
  '\r\n',
  '\t',
  '..',
  '../../etc/passwd',
  '../../etc/*',
  '/etc/passwd',
  'C:\\Windows\\system32',
  '\\\\server\\share',
  'é',
  'A\u00a0B',
  '😀',
  '\ud800',
  '\uffff',
  'shot$(touch MARKER)',
  '`touch MARKER`',
  "'; touch MARKER; '",
  '%00%0a',
  '#JOB#',
  'UPPER_case-123',
  '-',
  ' ',
  '9'.repeat(400),
  '!!!',
  Buffer.from('o-5').toString('base64url'),
  Buffer.from('o99999999999999999999').toString('base64url'),
  () => 'x'.repeat(200_000),
  () => 'y'.repeat(1024 * 1024),
  () => 'é'.repeat(5000),
];
/** Largest request generated. */
const MAX_REQUEST_BYTES = 20 * 1024 * 1024;
const HOSTILE_INT32 = [0, -1, 1, 2 ** 31 - 1, -(2 ** 31), 100, 101, 1000, 1001];
const HOSTILE_UINT32 = [0, 1, 2 ** 32 - 1, 2 ** 31, 100, 101, 1000, 1001, 10_001];
const HOSTILE_INT64 = [0n, -1n, 2n ** 53n, 2n ** 53n + 1n, 2n ** 63n - 1n, -(2n ** 63n), -(2n ** 53n) - 1n];
const HOSTILE_UINT64 = [0n, 2n ** 53n, 2n ** 53n + 1n, 2n ** 64n - 1n];
const HOSTILE_DOUBLE = [NaN, Infinity, -Infinity, -1, 0, 1e308, -0];
const HOSTILE_ENUM = [99, -1, 2 ** 31 - 1, 0, 5, 4];

/** One generated request. */
export interface FuzzRequest {
  readonly method: DescMethod;
  readonly bytes: Uint8Array;
  /** What was done to it, for a failure message. */
  readonly what: string;
}

/** The seeded generator of bad requests. */
export class RequestFuzzer {
  private readonly random: SeededRandom;
  constructor(seed: number) {
    this.random = new SeededRandom(seed);
  }

  private int(n: number): number {
    return Math.floor(this.random.next() * n);
  }
  private pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  /** A bad request for `method`. */
  next(method: DescMethod): FuzzRequest {
    if (this.random.next() < 0.1) {
      // Not a protobuf message at all (or a truncated one).
      const length = this.int(64);
      const bytes = new Uint8Array(length);
      for (let i = 0; i < length; i++) bytes[i] = this.int(256);
      return { method, bytes, what: `garbage ${Buffer.from(bytes).toString('hex')}` };
    }
    const message = create(method.input, (BASES[method.name] ?? {}) as never) as unknown as Record<
      string,
      unknown
    >;
    const what = this.mutate(method.input, message, method.input.name);
    const bytes = toBinary(method.input, message as never);
    // Past 20 MB the fuzzer would spend its time encoding (the service refuses > 16 MiB anyway).
    return bytes.length > MAX_REQUEST_BYTES ? this.next(method) : { method, bytes, what };
  }

  /** Sets one field, somewhere below `message`, to a hostile value; says which. */
  private mutate(type: DescMessage, message: Record<string, unknown>, path: string): string {
    const fields = type.fields;
    if (fields.length === 0) return `${path} (no fields)`;
    const field = this.pick(fields);
    const at = `${path}.${field.name}`;
    // Descend into a message field half the time (creating it when unset).
    if (field.fieldKind === 'message' && !isWellKnown(field.message) && this.random.next() < 0.6) {
      let child = this.get(message, field) as Record<string, unknown> | undefined;
      if (!child) {
        child = create(field.message) as unknown as Record<string, unknown>;
        this.set(message, field, child);
      }
      return this.mutate(field.message, child, at);
    }
    if (field.fieldKind === 'list' && field.listKind === 'message' && this.random.next() < 0.6) {
      const list = this.get(message, field) as Record<string, unknown>[];
      if (list.length === 0) list.push(create(field.message) as unknown as Record<string, unknown>);
      if (this.random.next() < 0.1) {
        // Too many entries (a valid manifest may be big: each entry costs a storage lookup).
        const n = this.pick(
          field.message.typeName === 'spillway.v1.ManifestEntry' ? [101, 1001] : [1001, 10_001],
        );
        for (let i = list.length; i < n; i++) list.push(list[0]!);
        return `${at} x${n}`;
      }
      return this.mutate(field.message, list[0]!, `${at}[0]`);
    }
    const value = this.hostile(field);
    this.set(message, field, value.value);
    return `${at} = ${value.text}`;
  }

  private get(message: Record<string, unknown>, field: DescField): unknown {
    if (field.oneof) {
      const group = message[field.oneof.localName] as { case?: string; value?: unknown };
      return group.case === field.localName ? group.value : undefined;
    }
    return message[field.localName];
  }

  private set(message: Record<string, unknown>, field: DescField, value: unknown): void {
    if (field.oneof) message[field.oneof.localName] = { case: field.localName, value };
    else message[field.localName] = value;
  }

  private hostileScalar(scalar: number): { value: unknown; text: string } {
    switch (scalar) {
      case 9: {
        const s = this.pick(HOSTILE_STRINGS);
        const value = typeof s === 'function' ? s() : s;
        return { value, text: value.length > 40 ? `<${value.length} chars>` : JSON.stringify(value) };
      }
      case 3:
      case 16:
      case 18:
      case 15: {
        const v = this.pick(HOSTILE_INT64);
        return { value: v, text: `${v}n` };
      }
      case 4:
      case 6: {
        const v = this.pick(HOSTILE_UINT64);
        return { value: v, text: `${v}n` };
      }
      case 13:
      case 7: {
        const v = this.pick(HOSTILE_UINT32);
        return { value: v, text: String(v) };
      }
      case 1:
      case 2: {
        const v = this.pick(HOSTILE_DOUBLE);
        return { value: v, text: String(v) };
      }
      case 8: {
        const v = this.random.next() < 0.5;
        return { value: v, text: String(v) };
      }
      case 12: {
        const n = this.pick([0, 1, 1024 * 1024 + 1]);
        return { value: new Uint8Array(n), text: `<${n} bytes>` };
      }
      default: {
        const v = this.pick(HOSTILE_INT32);
        return { value: v, text: String(v) };
      }
    }
  }

  private hostile(field: DescField): { value: unknown; text: string } {
    switch (field.fieldKind) {
      case 'scalar':
        return this.hostileScalar(field.scalar);
      case 'enum': {
        const v = this.pick(HOSTILE_ENUM);
        return { value: v, text: `enum ${v}` };
      }
      case 'message':
        return this.hostileMessage(field.message);
      case 'list': {
        const one =
          field.listKind === 'scalar'
            ? this.hostileScalar(field.scalar)
            : field.listKind === 'enum'
              ? { value: this.pick(HOSTILE_ENUM), text: 'enum' }
              : this.hostileMessage(field.message);
        const n = this.pick([1, 2, 101, 10_001]);
        // Many entries of a big value would be gigabytes: many entries are of a small one.
        const value = n > 2 && typeof one.value === 'string' && one.value.length > 1000 ? '-' : one.value;
        return { value: Array.from({ length: n }, () => value), text: `[${one.text}] x${n}` };
      }
      case 'map': {
        const key = this.hostileScalar(9);
        const value =
          field.mapKind === 'scalar'
            ? this.hostileScalar(field.scalar)
            : field.mapKind === 'enum'
              ? { value: this.pick(HOSTILE_ENUM), text: 'enum' }
              : this.hostileMessage(field.message);
        return { value: { [String(key.value)]: value.value }, text: `{${key.text}: ${value.text}}` };
      }
    }
  }

  private hostileMessage(type: DescMessage): { value: unknown; text: string } {
    if (type.typeName === 'google.protobuf.Duration') {
      const [seconds, nanos] = this.pick<[bigint, number]>([
        [-5n, 0],
        [30n * 86_400n, 0],
        [2n ** 53n, 0],
        [1n, -1],
        [1n, 2_000_000_000],
        [0n, 0],
        [2_147_483n, 648_000_000],
      ]);
      return { value: create(type, { seconds, nanos } as never), text: `Duration(${seconds}s, ${nanos}ns)` };
    }
    if (type.typeName === 'google.protobuf.Timestamp') {
      const [seconds, nanos] = this.pick<[bigint, number]>([
        [-(2n ** 40n), 0],
        [2n ** 40n, 0],
        [2n ** 53n + 1n, 0],
        [0n, 2_000_000_000],
      ]);
      return { value: create(type, { seconds, nanos } as never), text: `Timestamp(${seconds}s, ${nanos}ns)` };
    }
    const child = create(type) as unknown as Record<string, unknown>;
    const what = this.mutate(type, child, type.name);
    return { value: child, text: `{${what}}` };
  }
}

function isWellKnown(type: DescMessage): boolean {
  return type.typeName.startsWith('google.protobuf.');
}
