import * as fs from 'node:fs';
import * as path from 'node:path';

/** A self-signed server certificate for a loopback endpoint. */
export interface LoopbackCertificate {
  /** PEM private key (stays in memory). */
  readonly keyPem: string;
  /** PEM certificate: also the CA to trust, as it signs itself. */
  readonly certPem: string;
  /** Where the certificate was written, for `NODE_EXTRA_CA_CERTS` or `--cacert`. */
  readonly caPath: string;
}

/**
 * Generates a self-signed certificate for `localhost`, `127.0.0.1` and `::1` (plus
 * `hostname` if given) and writes the certificate (not the key) to `dir/ca.pem`.
 */
export async function generateLoopbackCertificate(
  dir: string,
  hostname?: string,
): Promise<LoopbackCertificate> {
  const selfsigned = require('selfsigned') as typeof import('selfsigned');
  const altNames: { type: 2 | 7; value?: string; ip?: string }[] = [
    { type: 2, value: 'localhost' },
    { type: 7, ip: '127.0.0.1' },
    { type: 7, ip: '::1' },
  ];
  if (hostname !== undefined && hostname !== 'localhost') {
    altNames.push(/^[\d.]+$|:/.test(hostname) ? { type: 7, ip: hostname } : { type: 2, value: hostname });
  }
  const pems = await selfsigned.generate([{ name: 'commonName', value: 'Spillway ARM emulator' }], {
    keyType: 'ec',
    curve: 'P-256',
    notAfterDate: new Date(Date.now() + 30 * 24 * 3600 * 1000),
    extensions: [
      { name: 'basicConstraints', cA: true },
      { name: 'keyUsage', digitalSignature: true, keyCertSign: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames },
    ],
  });
  fs.mkdirSync(dir, { recursive: true });
  const caPath = path.join(dir, 'ca.pem');
  fs.writeFileSync(caPath, pems.cert);
  return { keyPem: pems.private, certPem: pems.cert, caPath };
}
