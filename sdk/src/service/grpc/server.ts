import { isIP } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { FailedPreconditionError, ValidationError } from '../../errors';
import type { Logger } from '../../logging';
import { registerSecret } from '../../logging';
import { addIntrospection, type Introspection } from '../introspection';
import { allowAll, bearerToken, type Authenticator } from './auth';
import type { HandlerContext } from './handlers';
import type { GrpcService } from './service';

/** TLS material for a non-loopback listener. */
export interface ServerTls {
  /** PEM certificate chain of the server. */
  readonly certChain: Buffer;
  /** PEM private key of the server. */
  readonly privateKey: Buffer;
  /** PEM CA that client certificates must chain to: turns on mutual TLS. @default none */
  readonly clientCa?: Buffer;
}

/** How the server listens. */
export interface ListenOptions {
  /** `host:port`; port 0 picks a free port. @default '127.0.0.1:0' */
  readonly listen?: string;
  /** Required on any address but loopback (with a token, or with `clientCa` for mutual TLS). */
  readonly tls?: ServerTls;
  /** Bearer token every call must carry. Required off loopback unless mutual TLS. */
  readonly token?: string;
  /** Largest message accepted or sent. @default 16 MiB */
  readonly maxMessageBytes?: number;
}

/** Parses `host:port` (IPv6 in brackets). Throws a ValidationError naming `listen`. */
export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(listen);
  const host = m?.[1] ?? m?.[2];
  const port = Number(m?.[3]);
  if (!m || !host || port > 65535) {
    throw new ValidationError('listen', listen, 'must be HOST:PORT, e.g. 127.0.0.1:7443 or [::1]:7443');
  }
  return { host, port };
}

/** True for 127.0.0.0/8, ::1 and localhost. */
export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

/**
 * Refuses an insecure listener: anywhere but loopback needs TLS and either a bearer token
 * or mutual TLS. Throws before anything is bound.
 */
export function checkListenSecurity(options: ListenOptions): { host: string; port: number } {
  const { host, port } = parseListen(options.listen ?? '127.0.0.1:0');
  if (!isLoopback(host)) {
    if (!options.tls) {
      throw new FailedPreconditionError(
        `refusing to listen on ${host}:${port} without TLS: off loopback, Spillway needs --tls-cert and --tls-key, ` +
          'and a token (--token-file) or client certificates (--tls-client-ca)',
      );
    }
    if (!options.token && !options.tls.clientCa) {
      throw new FailedPreconditionError(
        `refusing to listen on ${host}:${port} without client authentication: give a token (--token-file) ` +
          'or require client certificates (--tls-client-ca)',
      );
    }
  }
  if (options.token !== undefined && options.token.length < 16) {
    throw new ValidationError(
      'token',
      `${options.token.length} characters`,
      'must be at least 16 characters',
    );
  }
  return { host, port };
}

/** A running gRPC server. */
export interface RunningServer {
  /** `host:port` actually bound (the real port when 0 was asked). */
  readonly address: string;
  readonly port: number;
  readonly server: grpc.Server;
  readonly introspection: Introspection;
  /** Stops accepting calls, waits briefly for running ones, then forces. */
  close(graceMs?: number): Promise<void>;
}

/** The handler context (authentication, logging) for a listener's options. */
export function handlerContext(options: ListenOptions, logger: Logger): HandlerContext {
  if (options.token) registerSecret(options.token);
  const authenticate: Authenticator = options.token ? bearerToken(options.token) : allowAll;
  return { authenticate, logger };
}

/** Binds a server with the given services, health and reflection; each service adds itself. */
export async function startServer(
  services: readonly GrpcService[],
  options: ListenOptions,
  logger: Logger,
): Promise<RunningServer> {
  const { host, port } = checkListenSecurity(options);
  const maxBytes = options.maxMessageBytes ?? 16 * 1024 * 1024;
  const server = new grpc.Server({
    'grpc.max_receive_message_length': maxBytes,
    'grpc.max_send_message_length': maxBytes,
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_permit_without_calls': 1,
  });
  // Every service adds itself, each request passing the guard (see `grpcService`).
  for (const service of services) service.addToServer(server);
  const introspection = addIntrospection(server);
  const credentials = options.tls
    ? grpc.ServerCredentials.createSsl(
        options.tls.clientCa ?? null,
        [{ cert_chain: options.tls.certChain, private_key: options.tls.privateKey }],
        options.tls.clientCa !== undefined,
      )
    : grpc.ServerCredentials.createInsecure();
  const target = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(target, credentials, (err, p) => (err ? reject(err) : resolve(p))),
  );
  introspection.setServing(true);
  const address = host.includes(':') ? `[${host}]:${bound}` : `${host}:${bound}`;
  logger.info('listening', {
    address,
    services: services.map((s) => s.name.replace(/^spillway\.v1\./, '')).join(','),
    tls: Boolean(options.tls),
    auth: options.token ? 'token' : options.tls?.clientCa ? 'mtls' : 'none',
  });
  return {
    address,
    port: bound,
    server,
    introspection,
    close: (graceMs = 2000) =>
      new Promise<void>((resolve) => {
        introspection.setServing(false);
        const force = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      }),
  };
}
