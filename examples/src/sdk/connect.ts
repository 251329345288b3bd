// Connect to the service and see what capacity it holds.
//   SPILLWAY_ADDRESS=127.0.0.1:7443 node examples/dist/sdk/connect.js
// On this machine the service needs nothing more. Off loopback it speaks TLS and wants a
// bearer token: set SPILLWAY_TLS_CA (its CA, PEM) and SPILLWAY_TOKEN_FILE.
import * as fs from 'node:fs';
import { BurstClient, BurstServiceError } from '@spillway/sdk';

async function main(): Promise<void> {
  const address = process.env.SPILLWAY_ADDRESS ?? '127.0.0.1:7443';
  const ca = process.env.SPILLWAY_TLS_CA;
  const tokenFile = process.env.SPILLWAY_TOKEN_FILE;
  // One client, one channel, shared by every call (client.capacity and client.assets too).
  const client = new BurstClient(address, {
    ...(ca ? { tls: { ca: fs.readFileSync(ca) } } : {}),
    ...(tokenFile ? { token: fs.readFileSync(tokenFile, 'utf8').trim() } : {}), // never logged
    callTimeoutMs: 10_000, // the deadline of each call
  });
  try {
    const groups = await client.capacity.list();
    console.log(`connected to ${address}: ${groups.length} capacity group(s)`);
    for (const g of groups) {
      console.log(
        `  ${g.name}: ${g.mode}, ${g.current.dedicated} dedicated + ${g.current.spot} spot node(s), ${g.costPerHour.toFixed(2)} per hour`,
      );
    }
  } catch (err) {
    // Every failure is a BurstServiceError: the gRPC status as `code`, the field at fault
    // for INVALID_ARGUMENT, the gRPC error as `cause`.
    if (err instanceof BurstServiceError && err.code === 'UNAVAILABLE') {
      console.error(`no service at ${address} (start one: npx spillway serve)`);
      process.exitCode = 1;
      return;
    }
    throw err;
  } finally {
    client.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
