/**
 * TLS channel credentials that never send an IP address as the TLS server name.
 *
 * grpc-js (1.14) passes the target's host to `tls.connect` as `servername` even when it is
 * an IP address (grpc/grpc-node#1919). RFC 6066 forbids IP literals in SNI, so Node prints
 * DEP0123 ("Setting the TLS ServerName to an IP address is not permitted") on the first
 * connection of every process that dials `127.0.0.1:7443` over TLS. These credentials do
 * what grpc-js's own do (CA, optional client certificate, ALPN h2, host-name checking,
 * `grpc.ssl_target_name_override`) but send SNI only for host names. The certificate is
 * still checked against the IP address (Node matches IP SANs when no server name is given).
 */
import * as net from 'node:net';
import * as tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';

/** What the credentials trust and present. */
export interface TlsMaterial {
  /** CA certificates (PEM) to trust. @default Node's root certificates */
  readonly ca?: Buffer;
  /** Client certificate (PEM), for mutual TLS. @default none */
  readonly cert?: Buffer;
  /** Client key (PEM). @default none */
  readonly key?: Buffer;
}

/** grpc-js channel credentials for TLS without an IP address in SNI. */
export class TlsChannelCredentials extends grpc.ChannelCredentials {
  private readonly context: tls.SecureContext;

  constructor(material: TlsMaterial) {
    super();
    this.context = tls.createSecureContext({
      ...(material.ca ? { ca: material.ca } : {}),
      ...(material.cert ? { cert: material.cert } : {}),
      ...(material.key ? { key: material.key } : {}),
    });
  }

  _isSecure(): boolean {
    return true;
  }

  _equals(other: grpc.ChannelCredentials): boolean {
    return other === this;
  }

  _createSecureConnector(
    target: grpc.experimental.GrpcUri,
    options: grpc.ChannelOptions,
    callCredentials?: grpc.CallCredentials,
  ): grpc.experimental.SecureConnector {
    const host = hostOf(target.path);
    const override = options['grpc.ssl_target_name_override'] as string | undefined;
    const name = override || host;
    const connectOptions: tls.ConnectionOptions = {
      secureContext: this.context,
      host,
      ALPNProtocols: ['h2'],
      ...(net.isIP(name) === 0 ? { servername: name } : {}),
      ...(override
        ? {
            checkServerIdentity: (_: string, cert: tls.PeerCertificate) =>
              tls.checkServerIdentity(override, cert),
          }
        : {}),
    };
    const calls = callCredentials ?? grpc.credentials.createEmpty();
    return {
      connect: (socket) =>
        new Promise<grpc.experimental.SecureConnectResult>((resolve, reject) => {
          const secure = tls.connect({ ...connectOptions, socket }, () => {
            if (!secure.authorized) {
              reject(secure.authorizationError);
              return;
            }
            resolve({ socket: secure, secure: true });
          });
          secure.on('error', reject);
        }),
      waitForReady: () => Promise.resolve(),
      getCallCredentials: () => calls,
      destroy: () => {},
    };
  }
}

/** The host of a `host:port`, `[v6]:port` or bare host target. */
export function hostOf(authority: string): string {
  const v6 = /^\[([^\]]+)\](?::\d+)?$/.exec(authority);
  if (v6) return v6[1]!;
  const colon = authority.lastIndexOf(':');
  // One colon: host:port. More: a bare IPv6 address.
  return colon > 0 && authority.indexOf(':') === colon ? authority.slice(0, colon) : authority;
}
