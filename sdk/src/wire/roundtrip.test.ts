import * as path from 'node:path';
import * as protobuf from 'protobufjs';
import * as wire from './index';

// GIVEN every message of proto/spillway/v1, filled with a non-default value in every field
// (built from the .proto descriptors, so a new field is covered without touching this test)
// WHEN it goes through the generated codec: fromJSON -> encode -> decode -> toJSON
// THEN it comes back equal to what went in.

const protoRoot = path.resolve(__dirname, '../../../proto');

function loadDescriptors(): protobuf.Root {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) =>
    target.startsWith('google/') ? target : path.join(protoRoot, target);
  root.loadSync(
    ['common', 'capacity', 'burst', 'frames', 'assets', 'cost'].map((f) => `spillway/v1/${f}.proto`),
    { keepCase: false },
  );
  root.resolveAll();
  return root;
}

interface Codec {
  fromJSON(o: unknown): unknown;
  toJSON(m: unknown): unknown;
  encode(m: unknown): { finish(): Uint8Array };
  decode(b: Uint8Array): unknown;
}

function isCodec(x: unknown): x is Codec {
  const c = x as Partial<Codec> | undefined;
  return (
    typeof c?.encode === 'function' && typeof c.decode === 'function' && typeof c.fromJSON === 'function'
  );
}

function generatedCodecs(): Map<string, Codec> {
  const out = new Map<string, Codec>();
  for (const mod of [wire.common, wire.capacity, wire.burst, wire.frames, wire.assets, wire.cost]) {
    for (const [name, value] of Object.entries(mod)) {
      // ts-proto also emits helpers for map fields (`JobSpec_EnvironmentEntry`): not messages of ours.
      if (isCodec(value) && !/_\w+Entry$/.test(name)) out.set(`spillway.v1.${name}`, value);
    }
  }
  return out;
}

/** A JSON value (proto3 JSON mapping) with every field set to a non-default value. */
function sample(type: protobuf.Type, oneofChoice: Map<string, string>, depth = 0): Record<string, unknown> {
  const json: Record<string, unknown> = {};
  for (const field of type.fieldsArray) {
    const oneof = field.partOf;
    if (oneof && oneofChoice.get(oneof.name) !== field.name) continue;
    const value = fieldValue(field, depth);
    if (field.map) json[field.name] = { key1: value };
    else if (field.repeated) json[field.name] = [value];
    else json[field.name] = value;
  }
  return json;
}

function fieldValue(field: protobuf.Field, depth: number): unknown {
  const resolved = field.resolvedType;
  if (resolved instanceof protobuf.Enum) {
    const names = Object.keys(resolved.values);
    return names[names.length - 1];
  }
  if (resolved instanceof protobuf.Type) {
    if (resolved.fullName === '.google.protobuf.Timestamp') return '2026-11-22T10:11:12.345Z';
    return sample(resolved, firstMembers(resolved), depth + 1);
  }
  switch (field.type) {
    case 'string':
      return `value-of-${field.name}`;
    case 'bool':
      return true;
    case 'bytes':
      return Buffer.from('spillway').toString('base64');
    case 'double':
    case 'float':
      return 1.5;
    case 'int32':
    case 'int64':
    case 'sint32':
    case 'sint64':
      return -7;
    default:
      return 7;
  }
}

function firstMembers(type: protobuf.Type): Map<string, string> {
  return new Map(type.oneofsArray.map((o) => [o.name, o.fieldsArray[0]!.name]));
}

/** One sample per member of each oneof, so every oneof member is exercised. */
function samplesOf(type: protobuf.Type): Record<string, unknown>[] {
  const base = firstMembers(type);
  const variants = [base];
  for (const oneof of type.oneofsArray) {
    for (const member of oneof.fieldsArray.slice(1))
      variants.push(new Map(base).set(oneof.name, member.name));
  }
  return variants.map((choice) => sample(type, choice));
}

function messagesOf(ns: protobuf.NamespaceBase): protobuf.Type[] {
  return ns.nestedArray.filter((n): n is protobuf.Type => n instanceof protobuf.Type);
}

describe('spillway.v1 generated codec', () => {
  const root = loadDescriptors();
  const v1 = root.lookup('spillway.v1') as protobuf.Namespace;
  const types = messagesOf(v1);
  const codecs = generatedCodecs();

  it('has a generated codec for every top-level message, and nothing else', () => {
    expect(types.length).toBeGreaterThan(50);
    expect([...codecs.keys()].sort()).toEqual(types.map((t) => t.fullName.slice(1)).sort());
  });

  it.each(types.map((t) => [t.name, t] as const))('round-trips %s with every field set', (_name, type) => {
    const codec = codecs.get(type.fullName.slice(1))!;
    for (const json of samplesOf(type)) {
      const message = codec.fromJSON(json);
      const bytes = codec.encode(message).finish();
      if (type.fieldsArray.length > 0) expect(bytes.length).toBeGreaterThan(0);
      expect(codec.toJSON(codec.decode(bytes))).toEqual(json);
    }
  });
});
