/**
 * Loads Spillway's OpenCue proto subset (the `proto/` folder shipped with this package) at
 * run time with `@grpc/proto-loader`: no generated code.
 */
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

export * from './wire';

/** The folder holding the `.proto` files (works from `src/proto` and `dist/proto`). */
export const OPENCUE_PROTO_DIR = path.join(__dirname, '../../proto');

const FILES = [
  'cue.proto',
  'job.proto',
  'host.proto',
  'facility.proto',
  'show.proto',
  'subscription.proto',
  'report.proto',
  'rqd.proto',
];

/** How messages are presented: OpenCue's field names, enum names, numbers for 64-bit ints. */
export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [OPENCUE_PROTO_DIR],
};

/** A loaded service: its client constructor and its definition (for servers). */
export interface LoadedService {
  readonly Client: grpc.ServiceClientConstructor;
  readonly definition: grpc.ServiceDefinition;
}

/** Every OpenCue service of the subset, by its full name (e.g. `report.RqdReportInterface`). */
export interface OpenCueServices {
  readonly cue: { readonly CueInterface: LoadedService };
  readonly job: {
    readonly JobInterface: LoadedService;
    readonly LayerInterface: LoadedService;
    readonly FrameInterface: LoadedService;
  };
  readonly host: { readonly HostInterface: LoadedService };
  readonly facility: { readonly FacilityInterface: LoadedService; readonly AllocationInterface: LoadedService };
  readonly show: { readonly ShowInterface: LoadedService };
  readonly subscription: { readonly SubscriptionInterface: LoadedService };
  readonly report: { readonly RqdReportInterface: LoadedService };
  readonly rqd: { readonly RqdInterface: LoadedService };
}

let cached: OpenCueServices | undefined;

/** Loads (once) and returns the OpenCue services. */
export function openCueServices(): OpenCueServices {
  if (cached) return cached;
  const definition = protoLoader.loadSync(FILES, LOADER_OPTIONS);
  const root = grpc.loadPackageDefinition(definition) as unknown as Record<
    string,
    Record<string, grpc.ServiceClientConstructor>
  >;
  const svc = (pkg: string, name: string): LoadedService => {
    const Client = root[pkg]?.[name];
    if (!Client) throw new Error(`OpenCue proto subset lacks ${pkg}.${name} (is ${OPENCUE_PROTO_DIR} complete?)`);
    return { Client, definition: Client.service };
  };
  cached = {
    cue: { CueInterface: svc('cue', 'CueInterface') },
    job: {
      JobInterface: svc('job', 'JobInterface'),
      LayerInterface: svc('job', 'LayerInterface'),
      FrameInterface: svc('job', 'FrameInterface'),
    },
    host: { HostInterface: svc('host', 'HostInterface') },
    facility: {
      FacilityInterface: svc('facility', 'FacilityInterface'),
      AllocationInterface: svc('facility', 'AllocationInterface'),
    },
    show: { ShowInterface: svc('show', 'ShowInterface') },
    subscription: { SubscriptionInterface: svc('subscription', 'SubscriptionInterface') },
    report: { RqdReportInterface: svc('report', 'RqdReportInterface') },
    rqd: { RqdInterface: svc('rqd', 'RqdInterface') },
  };
  return cached;
}
