/**
 * The service's HTTP server (fastify): the status page, its JSON and Server-Sent Events
 * feeds, a frame's live log, and Prometheus `/metrics`. It listens on its own port under
 * the gRPC server's rules: loopback by default; anywhere else only with TLS and a token (or
 * client certificates); with TLS configured it speaks HTTPS, and with a token every request
 * must carry it (`Authorization: Bearer <token>`, or HTTP Basic with the token as the
 * password, which browsers ask for).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import { NotFoundError, SpillwayError, ValidationError } from '../../errors';
import type { Logger } from '../../logging';
import { redactKnown, registerSecret } from '../../logging';
import { checkListenSecurity, type ServerTls } from '../grpc/server';
import type { FrameLogService, FrameRef } from '../logs/frame-logs';
import type { ServiceMetrics } from './metrics';
import { renderLive, renderLogPage, renderPage } from './page';
import type { ServiceStatus } from './status';

/** How the HTTP server listens. */
export interface HttpListenOptions {
  /** `host:port`; port 0 picks one. */
  readonly listen: string;
  /** Serve HTTPS with this certificate (and require client certificates with `clientCa`). */
  readonly tls?: ServerTls;
  /** The token every request must carry. */
  readonly token?: string;
}

/** What the HTTP server shows. */
export interface HttpServerSources {
  /** The status now. */
  status(options?: { abortSignal?: AbortSignal }): Promise<ServiceStatus>;
  /** Calls `listener` when the status may have changed; returns the unsubscribe function. */
  onChange(listener: () => void): () => void;
  readonly logs: FrameLogService;
  readonly metrics: ServiceMetrics;
}

/** Options of the HTTP server. */
export interface HttpServerOptions extends HttpListenOptions {
  readonly logger: Logger;
  /** Least time between two status pushes on a stream. @default 1000 */
  readonly pushIntervalMs?: number;
  /** A push after this long even when nothing changed (keeps proxies from closing the stream). @default 15000 */
  readonly heartbeatMs?: number;
  /** Shown in the page's title. @default 'Spillway' */
  readonly title?: string;
}

/** A running HTTP server. */
export interface RunningHttpServer {
  /** `http://host:port/` or `https://...`, as bound. */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

/** Checks the token of a request, in constant time: Bearer, or Basic with the token as password. */
function tokenCheck(token: string): (authorization: string | undefined) => boolean {
  const expected = createHash('sha256').update(token).digest();
  const same = (given: string): boolean =>
    timingSafeEqual(createHash('sha256').update(given).digest(), expected);
  return (authorization) => {
    if (!authorization) return false;
    const bearer = /^Bearer\s+(.+)$/i.exec(authorization);
    if (bearer) return same(bearer[1]!);
    const basic = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(authorization);
    if (!basic) return false;
    const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    return colon >= 0 && same(decoded.slice(colon + 1));
  };
}

/** A frame path segment: a frame number of the job, or a frame id. */
function frameRefOf(segment: string): FrameRef {
  return /^-?\d+$/.test(segment) ? { frameNumber: Number(segment) } : { frameId: segment };
}

/** Opens a Server-Sent Events stream on a hijacked reply. */
function openEventStream(reply: FastifyReply): ServerResponse {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  res.write('retry: 2000\n\n');
  return res;
}

/** Writes one SSE event; resolves when the socket can take more. */
function sendEvent(res: ServerResponse, event: string, data: unknown): Promise<void> | void {
  const ok = res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  if (ok || res.destroyed) return;
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/** An AbortSignal that fires when the client goes away. */
function closedSignal(req: IncomingMessage, res: ServerResponse): AbortSignal {
  const controller = new AbortController();
  const abort = (): void => controller.abort();
  res.on('close', abort);
  req.on('aborted', abort);
  return controller.signal;
}

/** HTTP status of an error the domain threw. */
function statusOf(err: unknown): number {
  if (err instanceof ValidationError) return 400;
  if (err instanceof NotFoundError) return 404;
  return 500;
}

function errorBody(err: unknown): { error: { code: string; message: string } } {
  const code = err instanceof SpillwayError ? err.code : 'INTERNAL';
  const message = err instanceof SpillwayError ? err.message : 'internal error';
  return { error: { code, message: redactKnown(message) } };
}

/** Builds the fastify app (routes and auth), not yet listening. */
export function buildHttpApp(sources: HttpServerSources, options: HttpServerOptions): FastifyInstance {
  const app = Fastify({
    logger: false,
    ...(options.tls
      ? {
          https: {
            cert: options.tls.certChain,
            key: options.tls.privateKey,
            ...(options.tls.clientCa
              ? { ca: options.tls.clientCa, requestCert: true, rejectUnauthorized: true }
              : {}),
          },
        }
      : {}),
  }) as unknown as FastifyInstance;
  const title = options.title ?? 'Spillway';
  const pushMs = options.pushIntervalMs ?? 1000;
  const heartbeatMs = options.heartbeatMs ?? 15_000;
  const streams = new Set<ServerResponse>();

  if (options.token) {
    registerSecret(options.token);
    const allowed = tokenCheck(options.token);
    app.addHook('onRequest', async (req, reply) => {
      if (allowed(req.headers.authorization)) return;
      await reply
        .code(401)
        .header('www-authenticate', 'Basic realm="Spillway", charset="UTF-8"')
        .send({
          error: {
            code: 'UNAUTHENTICATED',
            message:
              'send the service token: Authorization: Bearer <token>, or as the password of HTTP Basic',
          },
        });
    });
  }
  app.addHook('onResponse', async (req, reply) => {
    options.logger.debug('http', {
      method: req.method,
      url: req.url.split('?')[0],
      status: reply.statusCode,
    });
  });
  app.setErrorHandler(async (err, req, reply) => {
    const status =
      statusOf(err) === 500 && (err as { statusCode?: number }).statusCode
        ? (err as { statusCode: number }).statusCode
        : statusOf(err);
    if (status >= 500)
      options.logger.warn('http request failed', {
        url: req.url.split('?')[0],
        error: (err as Error).message,
      });
    await reply.code(status).send(errorBody(err));
  });
  app.addHook('onClose', async () => {
    for (const res of streams) res.end();
  });

  app.get('/', async (req, reply) => {
    const status = await sources.status();
    await reply
      .type('text/html; charset=utf-8')
      .header('cache-control', 'no-store')
      .send(renderPage(status, title));
  });

  app.get('/api/status', async (req, reply) => {
    await reply.header('cache-control', 'no-store').send(await sources.status());
  });

  app.get('/api/status/stream', async (req, reply) => {
    const res = openEventStream(reply);
    streams.add(res);
    const signal = closedSignal(req.raw, res);
    let dirty = true;
    let wake: (() => void) | undefined;
    const unsubscribe = sources.onChange(() => {
      dirty = true;
      wake?.();
    });
    try {
      let lastPush = 0;
      while (!signal.aborted) {
        const now = Date.now();
        if (dirty || now - lastPush >= heartbeatMs) {
          dirty = false;
          lastPush = now;
          const status = await sources.status({ abortSignal: signal });
          if (signal.aborted) break;
          await sendEvent(res, 'status', { generatedAt: status.generatedAt, html: renderLive(status) });
        }
        // At most one push per interval; sooner than the heartbeat only when something changed.
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, dirty ? pushMs : Math.min(heartbeatMs, pushMs * 5));
          wake = () => {
            wake = undefined;
            setTimeout(
              () => {
                clearTimeout(timer);
                resolve();
              },
              Math.max(0, pushMs - (Date.now() - lastPush)),
            );
          };
          signal.addEventListener(
            'abort',
            () => {
              clearTimeout(timer);
              resolve();
            },
            { once: true },
          );
        });
      }
    } catch (err) {
      if (!signal.aborted) options.logger.debug('status stream ended', { error: (err as Error).message });
    } finally {
      unsubscribe();
      streams.delete(res);
      res.end();
    }
  });

  app.get<{ Params: { job: string; frame: string }; Querystring: { follow?: string; offset?: string } }>(
    '/api/jobs/:job/frames/:frame/log',
    async (req, reply) => {
      const offset = req.query.offset === undefined ? 0 : Number(req.query.offset);
      if (!Number.isSafeInteger(offset) || offset < 0) {
        throw new ValidationError('offset', req.query.offset, 'must be a whole number of bytes, 0 or more');
      }
      const follow = req.query.follow === '1' || req.query.follow === 'true';
      // Resolve first: an unknown job or frame is a plain 404, not a stream.
      sources.logs.resolve(req.params.job, frameRefOf(req.params.frame));
      const res = openEventStream(reply);
      streams.add(res);
      const signal = closedSignal(req.raw, res);
      try {
        for await (const chunk of sources.logs.follow(req.params.job, frameRefOf(req.params.frame), {
          offset,
          follow,
          abortSignal: signal,
        })) {
          if (chunk.data.length > 0)
            sources.metrics.countStorage('down', `log-${chunk.source ?? 'node'}`, chunk.data.length);
          const { data, ...rest } = chunk;
          await sendEvent(res, 'chunk', { ...rest, text: data.toString('utf8') });
        }
      } catch (err) {
        if (!signal.aborted) await sendEvent(res, 'failure', errorBody(err).error);
      } finally {
        streams.delete(res);
        res.end();
      }
    },
  );

  app.get<{ Params: { job: string; frame: string } }>('/jobs/:job/frames/:frame/log', async (req, reply) => {
    sources.logs.resolve(req.params.job, frameRefOf(req.params.frame));
    await reply.type('text/html; charset=utf-8').send(renderLogPage(req.params.job, req.params.frame, title));
  });

  app.get('/metrics', async (req, reply) => {
    await reply.type(sources.metrics.registry.contentType).send(await sources.metrics.metrics());
  });

  app.get('/healthz', async () => ({ status: 'ok' }));
  return app;
}

/** Starts the HTTP server; refuses an insecure listener before binding anything. */
export async function startHttpServer(
  sources: HttpServerSources,
  options: HttpServerOptions,
): Promise<RunningHttpServer> {
  const { host, port } = checkListenSecurity(options);
  const app = buildHttpApp(sources, options);
  await app.listen({ host, port });
  const address = app.server.address();
  const bound = typeof address === 'object' && address ? address.port : port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  const url = `${options.tls ? 'https' : 'http'}://${shownHost}:${bound}/`;
  options.logger.info('status page', {
    url,
    tls: Boolean(options.tls),
    auth: options.token ? 'token' : options.tls?.clientCa ? 'mtls' : 'none',
  });
  return {
    url,
    port: bound,
    close: () => app.close(),
  };
}
