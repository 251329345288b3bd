import * as grpc from '@grpc/grpc-js';
import {
  BurstServiceClient,
  BurstServiceService,
  ReportFarmStateResponse,
  type BurstServiceServer,
} from '../../gen/spillway/v1/burst';
import { silentLogger } from '../../logging';
import { startServer } from './server';
import { grpcService } from './service';

// GIVEN a server started with one service the caller composed (the server names none itself)
// WHEN a real client calls it over the loopback
// THEN the server carries exactly what it was given, with health answering for it.
describe('startServer', () => {
  it('GIVEN one bound service WHEN called THEN it answers, and a service not given is UNIMPLEMENTED', async () => {
    const calls: string[] = [];
    const burst: Partial<BurstServiceServer> = {
      reportFarmState: (_call, callback) => {
        calls.push('reportFarmState');
        callback(null, ReportFarmStateResponse.fromPartial({ plan: { planId: 'p-1' } }));
      },
    };
    const server = await startServer(
      [grpcService('spillway.v1.BurstService', BurstServiceService, burst as BurstServiceServer)],
      { listen: '127.0.0.1:0' },
      silentLogger,
    );
    const client = new BurstServiceClient(server.address, grpc.credentials.createInsecure());
    try {
      const planId = await new Promise<string>((resolve, reject) =>
        client.reportFarmState({ state: undefined }, (err, res) =>
          err ? reject(err) : resolve(res.plan?.planId ?? ''),
        ),
      );
      expect(calls).toEqual(['reportFarmState']);
      expect(planId).toBe('p-1');
      // FrameService was not given: the server does not carry it.
      const raw = new grpc.Client(server.address, grpc.credentials.createInsecure());
      const code = await new Promise<number | undefined>((resolve) =>
        raw.makeUnaryRequest(
          '/spillway.v1.FrameService/GetJob',
          () => Buffer.alloc(0),
          (b: Buffer) => b,
          {},
          (err) => resolve(err?.code),
        ),
      );
      raw.close();
      expect(code).toBe(grpc.status.UNIMPLEMENTED);
    } finally {
      client.close();
      await server.close();
    }
  });
});
