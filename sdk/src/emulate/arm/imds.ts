/**
 * The Azure Instance Metadata Service as each emulated instance sees it: its own name and
 * its scheduled events (a Spot `Preempt` notice before an eviction). Real IMDS answers on
 * `http://169.254.169.254` inside the VM; here every instance gets its own base URL on a
 * loopback port (`SPILLWAY_IMDS_ENDPOINT`), so one instance never reads another's events.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

/** One scheduled event, as IMDS `api-version=2020-07-01` shapes it. */
export interface ScheduledEvent {
  readonly EventId: string;
  readonly EventType: 'Preempt' | 'Terminate' | 'Reboot' | 'Redeploy' | 'Freeze';
  readonly ResourceType: 'VirtualMachine';
  /** VM names the event concerns (for a scale set instance: `<set>_<id>`). */
  readonly Resources: readonly string[];
  readonly EventStatus: 'Scheduled' | 'Started';
  /** RFC 1123 time the event starts at the latest. */
  readonly NotBefore: string;
  readonly Description: string;
  readonly EventSource: 'Platform' | 'User';
  readonly DurationInSeconds: number;
}

/** What IMDS knows of one instance. */
export interface ImdsInstance {
  /** The VM name (`<set>_<id>`), as `compute/name` answers. */
  readonly name: string;
  readonly scaleSet: string;
  readonly resourceGroup: string;
  readonly subscriptionId: string;
  readonly location: string;
  /** Called when the instance approves (starts) an event early. */
  readonly onApprove?: (event: ScheduledEvent) => void;
}

interface Entry {
  readonly instance: ImdsInstance;
  events: ScheduledEvent[];
  incarnation: number;
}

/** Per-instance metadata endpoints on one loopback HTTP listener. */
export class ImdsServer {
  private readonly entries = new Map<string, Entry>();

  private constructor(private readonly server: http.Server) {}

  /** Starts the listener on `host:0`. */
  static async start(host: string): Promise<ImdsServer> {
    const holder: { imds?: ImdsServer } = {};
    const server = http.createServer((req, res) => holder.imds!.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, host, () => resolve());
    });
    holder.imds = new ImdsServer(server);
    return holder.imds;
  }

  /** Registers an instance; returns its base URL (its `169.254.169.254`). */
  add(instance: ImdsInstance): string {
    const token = randomBytes(12).toString('hex');
    this.entries.set(token, { instance, events: [], incarnation: 1 });
    const address = this.server.address() as AddressInfo;
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    return `http://${host}:${address.port}/${token}`;
  }

  /** Forgets an instance (deleted or evicted). */
  remove(baseUrl: string): void {
    this.entries.delete(baseUrl.slice(baseUrl.lastIndexOf('/') + 1));
  }

  /** Schedules a Preempt event for the instance at `baseUrl`, starting at `notBefore`. */
  schedulePreempt(baseUrl: string, notBefore: Date): ScheduledEvent | undefined {
    const entry = this.entries.get(baseUrl.slice(baseUrl.lastIndexOf('/') + 1));
    if (!entry) return undefined;
    const event: ScheduledEvent = {
      EventId: randomUUID().toUpperCase(),
      EventType: 'Preempt',
      ResourceType: 'VirtualMachine',
      Resources: [entry.instance.name],
      EventStatus: 'Scheduled',
      NotBefore: notBefore.toUTCString(),
      Description: 'Spot VM eviction',
      EventSource: 'Platform',
      DurationInSeconds: -1,
    };
    entry.events = [...entry.events, event];
    entry.incarnation += 1;
    return event;
  }

  /** Stops the listener. */
  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const send = (status: number, body: unknown, type = 'application/json; charset=utf-8'): void => {
        const text = typeof body === 'string' ? body : JSON.stringify(body);
        res.writeHead(status, { 'content-type': type }).end(text);
      };
      const url = new URL(req.url ?? '/', 'http://imds');
      const [, token, ...rest] = url.pathname.split('/');
      const entry = this.entries.get(token ?? '');
      if (!entry) return send(404, { error: 'not found' });
      // As IMDS: the header keeps requests from being forwarded by accident.
      if (req.headers.metadata !== 'true')
        return send(400, { error: 'Bad request. Required metadata header not specified' });
      if (!url.searchParams.get('api-version'))
        return send(400, { error: 'Bad request. api-version was not specified in the request' });
      const route = `${req.method} /${rest.join('/')}`;
      const { instance } = entry;
      const compute = {
        name: instance.name,
        vmScaleSetName: instance.scaleSet,
        resourceGroupName: instance.resourceGroup,
        subscriptionId: instance.subscriptionId,
        location: instance.location,
      };
      switch (route) {
        case 'GET /metadata/instance/compute/name':
          return send(200, instance.name, 'text/plain; charset=utf-8');
        case 'GET /metadata/instance/compute':
          return send(200, compute);
        case 'GET /metadata/instance':
          return send(200, { compute });
        case 'GET /metadata/scheduledevents':
          return send(200, { DocumentIncarnation: entry.incarnation, Events: entry.events });
        case 'POST /metadata/scheduledevents': {
          let body: { StartRequests?: { EventId?: string }[] } = {};
          try {
            body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as typeof body;
          } catch {
            return send(400, { error: 'Bad request. The body is not JSON' });
          }
          for (const start of body.StartRequests ?? []) {
            const event = entry.events.find((e) => e.EventId === start.EventId);
            if (!event) continue;
            entry.events = entry.events.map((e) =>
              e === event ? { ...e, EventStatus: 'Started' as const } : e,
            );
            entry.incarnation += 1;
            instance.onApprove?.(event);
          }
          return send(200, '', 'text/plain');
        }
        default:
          return send(404, { error: `no route ${route}` });
      }
    });
  }
}
