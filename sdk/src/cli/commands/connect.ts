import * as fs from 'node:fs';
import { BurstClient } from '../../client';
import { readSecretFile } from '../../config';

/** The connection options every client command takes (parseArgs shape). */
export const connectOptions = {
  address: { type: 'string' },
  'token-file': { type: 'string' },
  'tls-ca': { type: 'string' },
  json: { type: 'boolean', default: false },
} as const;

/** Help text for the connection options. */
export const connectHelp = [
  '  --address HOST:PORT   the service (default: $SPILLWAY_ADDRESS or 127.0.0.1:7443)',
  '  --token-file FILE     bearer token for a service off loopback (default: $SPILLWAY_TOKEN_FILE)',
  '  --tls-ca FILE         CA (PEM) to trust for a TLS service',
  '  --json                machine-readable output',
].join('\n');

/** A client for the parsed connection options. */
export function connect(values: { address?: string; 'token-file'?: string; 'tls-ca'?: string }): BurstClient {
  const address = values.address ?? process.env.SPILLWAY_ADDRESS ?? '127.0.0.1:7443';
  const tokenFile = values['token-file'] ?? process.env.SPILLWAY_TOKEN_FILE;
  return new BurstClient(address, {
    ...(tokenFile ? { token: readSecretFile(tokenFile, '--token-file') } : {}),
    ...(values['tls-ca'] ? { tls: { ca: fs.readFileSync(values['tls-ca']) } } : {}),
  });
}
