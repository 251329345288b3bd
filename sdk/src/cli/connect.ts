import * as fs from 'node:fs';
import type { BurstClient } from '../client';
import { readSecretFile } from '../config';
import { flagError, type ConnectionValues } from './command';

/** The service address when `--address` is not given. */
export const DEFAULT_ADDRESS = '127.0.0.1:7443';

/**
 * A client for the connection options (`withConnection`): `--address`, else
 * `$SPILLWAY_ADDRESS`, else 127.0.0.1:7443; a token from `--token-file` or
 * `$SPILLWAY_TOKEN_FILE`; TLS when `--tls-ca` names a CA. An unreadable file is a usage
 * error naming its flag. Loads the gRPC client only when called.
 */
export function connect(values: ConnectionValues): BurstClient {
  const address = values.address ?? process.env.SPILLWAY_ADDRESS ?? DEFAULT_ADDRESS;
  const tokenFile = values.tokenFile ?? process.env.SPILLWAY_TOKEN_FILE;
  let token: string | undefined;
  if (tokenFile) {
    try {
      token = readSecretFile(tokenFile, '--token-file');
    } catch (err) {
      throw flagError('--token-file', tokenFile, err);
    }
  }
  let ca: Buffer | undefined;
  if (values.tlsCa !== undefined) {
    try {
      ca = fs.readFileSync(values.tlsCa);
    } catch (err) {
      throw flagError(
        '--tls-ca',
        values.tlsCa,
        new Error(`cannot be read: ${(err as NodeJS.ErrnoException).code ?? err}`),
      );
    }
  }
  const { BurstClient } = require('../client') as typeof import('../client');
  return new BurstClient(address, { ...(token ? { token } : {}), ...(ca ? { tls: { ca } } : {}) });
}
