import { BurstServiceError } from '@spillway/sdk';
import { startTestService, type TestService } from '../support/service';

// GIVEN a real service
// WHEN a server stream fails before or while it streams (a cursor the service never issued)
// THEN the client gets the status at once (INVALID_ARGUMENT naming the field), not a
// stream that hangs until its deadline.

describe('server-stream errors', () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService({ nodes: 1 });
  });
  afterAll(() => svc.close());

  it('ends WatchFrames with INVALID_ARGUMENT for a bad cursor', async () => {
    const err = await (async () => {
      for await (const _ of svc.client.watchFrames({ afterCursor: 'bogus' })) {
        /* no event expected */
      }
    })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BurstServiceError);
    expect(err).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'after_cursor' });
    expect((err as Error).message).toContain('bogus');
  }, 10_000);
});
