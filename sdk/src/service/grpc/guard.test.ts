import { BinaryWriter } from '@bufbuild/protobuf/wire';
import { Metadata } from '@grpc/grpc-js';
import { ResourceExhaustedError, UnauthenticatedError, ValidationError } from '../../errors';
import * as c from '../../gen/spillway/v1/capacity';
import * as b from '../../gen/spillway/v1/burst';
import * as f from '../../gen/spillway/v1/frames';
import { silentLogger } from '../../logging';
import { checkMetadata } from './auth';
import { guardDefinition, refusal } from './guard';
import { toServiceError } from './status';

// The edge guard, one regression row per category the fuzzer found: each bad request is
// refused on arrival with INVALID_ARGUMENT naming the field (wire path) and quoting the value.

const frames = guardDefinition(f.FrameServiceService);
const capacity = guardDefinition(c.CapacityServiceService);
const burst = guardDefinition(b.BurstServiceService);

const job = { source: 'deadline:studio', sourceJobId: 'job-1', commandTemplate: 'render #IFRAME#' };
const frame = { sourceTaskId: '1', frameStart: 1, frameEnd: 1 };
const submit = (j: Partial<f.JobSpec>, fr: Partial<f.FrameSpec>[] = [frame]): Buffer =>
  Buffer.from(
    f.SubmitFramesRequest.encode(
      f.SubmitFramesRequest.fromPartial({ job: { ...job, ...j }, frames: fr }),
    ).finish(),
  );
const ensure = (spec: Partial<c.CapacityGroupSpec>): Buffer =>
  Buffer.from(
    c.EnsureCapacityGroupRequest.encode(
      c.EnsureCapacityGroupRequest.fromPartial({
        spec: { name: 'nightly', mode: 1, vmSize: 'Standard_D4as_v5', maxDedicatedNodes: 4, ...spec },
      }),
    ).finish(),
  );

/** The refusal of decoding `bytes` for a method, or undefined when it passed. */
function refused(
  method: { requestDeserialize: (b: Buffer) => unknown },
  bytes: Buffer,
): ValidationError | undefined {
  return refusal(method.requestDeserialize(bytes));
}

describe('the edge guard', () => {
  it.each<[string, { requestDeserialize: (b: Buffer) => unknown }, Buffer, string, string]>([
    // unknown enum values
    [
      'an unknown enum (spec.backend = 99)',
      capacity.ensureCapacityGroup,
      ensure({ backend: 99 as c.BackendKind }),
      'spec.backend',
      '99',
    ],
    [
      'an unknown enum in a list',
      frames.listJobs,
      Buffer.from(
        f.ListJobsRequest.encode({
          pageSize: 1,
          pageToken: '',
          source: '',
          states: [42 as f.JobState],
        }).finish(),
      ),
      'states[0]',
      '42',
    ],
    // bounds: nodes per group, task slots
    [
      '4,294,967,295 nodes',
      capacity.ensureCapacityGroup,
      ensure({ maxDedicatedNodes: 4294967295 }),
      'spec.max_dedicated_nodes',
      '4294967295',
    ],
    [
      'a resize past any group',
      capacity.resizeCapacityGroup,
      Buffer.from(
        c.ResizeCapacityGroupRequest.encode(
          c.ResizeCapacityGroupRequest.fromPartial({ name: 'nightly', targetSpotNodes: 5000 }),
        ).finish(),
      ),
      'target_spot_nodes',
      '5000',
    ],
    // durations
    [
      'a negative resize_timeout',
      capacity.resizeCapacityGroup,
      Buffer.from(
        c.ResizeCapacityGroupRequest.encode(
          c.ResizeCapacityGroupRequest.fromPartial({
            name: 'nightly',
            resizeTimeout: { seconds: -5, nanos: 0 },
          }),
        ).finish(),
      ),
      'resize_timeout',
      '-5s',
    ],
    [
      'a 30-day frame_timeout',
      frames.submitFrames,
      submit({ frameTimeout: { seconds: 30 * 86_400, nanos: 0 } }),
      'job.frame_timeout',
      '2592000s',
    ],
    [
      'nanos out of range',
      frames.submitFrames,
      submit({ frameTimeout: { seconds: 1, nanos: 2_000_000_000 } }),
      'job.frame_timeout.nanos',
      '2000000000',
    ],
    // strings: NUL, control characters, length, names
    [
      'NUL in a command',
      frames.submitFrames,
      submit({ commandTemplate: 'echo a\0b' }),
      'job.command_template',
      'echo a\\u0000b',
    ],
    [
      'a newline in an output pattern',
      frames.submitFrames,
      submit({ output: { patterns: ['a\nb'], destination: '', shared: undefined } }),
      'job.output.patterns[0]',
      'a\\nb',
    ],
    [
      'a 200 KB job name',
      frames.submitFrames,
      submit({ name: 'x'.repeat(200_000) }),
      'job.name',
      '200000 characters',
    ],
    [
      'a capacity group ../../etc/passwd',
      burst.reportFarmState,
      Buffer.from(
        b.ReportFarmStateRequest.encode(
          b.ReportFarmStateRequest.fromPartial({
            state: { source: 'd', jobs: [{ sourceJobId: 'j', capacityGroup: '../../etc/passwd' }] },
          }),
        ).finish(),
      ),
      'state.jobs[0].capacity_group',
      '../../etc/passwd',
    ],
    [
      'a 1 MB source_job_id',
      burst.reportFarmState,
      Buffer.from(
        b.ReportFarmStateRequest.encode(
          b.ReportFarmStateRequest.fromPartial({
            state: { source: 'd', jobs: [{ sourceJobId: 'j'.repeat(1 << 20) }] },
          }),
        ).finish(),
      ),
      'state.jobs[0].source_job_id',
      '1048576 characters',
    ],
    [
      'a non-ASCII map key with a newline',
      frames.submitFrames,
      submit({ environment: { 'é\n': 'x' } }),
      'job.environment["é\\n"]',
      'é\\n',
    ],
    [
      'a garbage page token too long to be one',
      capacity.listCapacityGroups,
      Buffer.from(c.ListCapacityGroupsRequest.encode({ pageSize: 0, pageToken: 'z'.repeat(300) }).finish()),
      'page_token',
      '300 characters',
    ],
  ])('refuses %s', (_what, method, bytes, field, quoted) => {
    const error = refused(method, bytes);
    expect(error).toBeInstanceOf(ValidationError);
    expect(error!.field).toBe(field);
    expect(error!.message).toContain(quoted);
  });

  it('names the field of a 64-bit number past 2^53 (decoding it threw, which answered INTERNAL)', () => {
    const head = Buffer.from(
      f.SubmitFramesRequest.encode(f.SubmitFramesRequest.fromPartial({ job })).finish(),
    );
    const frameBytes = new BinaryWriter()
      .tag(2, 2)
      .fork()
      .tag(1, 2)
      .string('1')
      .tag(2, 0)
      .int64('1152921504606846976')
      .join()
      .finish();
    const error = refused(frames.submitFrames, Buffer.concat([head, frameBytes]));
    expect(error?.field).toBe('frames[0].frame_start');
    expect(error?.message).toContain('1152921504606846976');
  });

  it('refuses bytes that are no message, naming the request', () => {
    const error = refused(frames.submitFrames, Buffer.from([0xff, 0xff, 0xff, 0x01, 0x02]));
    expect(error?.field).toBe('request');
    expect(error?.message).toMatch(/not a valid spillway.v1.SubmitFramesRequest/);
  });

  it('passes good requests through as the decoded message', () => {
    const good = frames.submitFrames.requestDeserialize(
      submit({ name: 'shot 010', frameTimeout: { seconds: 3600, nanos: 0 } }),
    );
    expect(refusal(good)).toBeUndefined();
    expect((good as f.SubmitFramesRequest).job?.name).toBe('shot 010');
    expect(
      refusal(capacity.ensureCapacityGroup.requestDeserialize(ensure({ backend: 3, maxSpotNodes: 1000 }))),
    ).toBeUndefined();
  });
});

describe('error mapping never throws', () => {
  // GIVEN errors whose field or message no gRPC metadata may carry WHEN mapped THEN a status comes
  // back, with the field escaped (the service used to die building this error).
  it.each([
    ['job.environment["é"]', 'job.environment["\\u00e9"]'],
    ['job.environment["A\u00a0B"]', 'job.environment["A\\u00a0B"]'],
    ['x\n\r\0y', 'x\\u000a\\u000d\\u0000y'],
  ])('field %j', (field, sent) => {
    const mapped = toServiceError(new ValidationError(field, 'v', 'is bad'), silentLogger);
    expect(mapped.code).toBe(3);
    expect(mapped.metadata?.get('spillway-field')).toEqual([sent]);
  });

  it('maps anything else to INTERNAL, message redacted and bounded', () => {
    const mapped = toServiceError(
      new Error(`boom https://a/c?sv=1&sig=SECRET ${'x'.repeat(5000)}`),
      silentLogger,
    );
    expect(mapped.code).toBe(13);
    expect(mapped.details).not.toContain('SECRET');
    expect(mapped.details!.length).toBeLessThanOrEqual(2000);
  });
});

describe('metadata limits', () => {
  it('answers an oversized bearer header UNAUTHENTICATED and oversized metadata RESOURCE_EXHAUSTED', () => {
    const bearer = new Metadata();
    bearer.set('authorization', `Bearer ${'x'.repeat(5000)}`);
    expect(() => checkMetadata(bearer)).toThrow(UnauthenticatedError);
    const many = new Metadata();
    for (let i = 0; i < 10; i++) many.set(`x-pad-${i}`, 'y'.repeat(2000));
    expect(() => checkMetadata(many)).toThrow(ResourceExhaustedError);
    const fine = new Metadata();
    fine.set('authorization', `Bearer ${'t'.repeat(64)}`);
    expect(() => checkMetadata(fine)).not.toThrow();
  });
});
