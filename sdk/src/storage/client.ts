/**
 * Where storage is: a connection string (env `SPILLWAY_STORAGE_CONNECTION_STRING` or a
 * file), an account URL with a `TokenCredential`, or, with nothing configured, Azurite
 * started by Spillway. Every client gets a per-try timeout and exponential retries with
 * jitter for retryable faults only (the storage SDK's retry policy).
 */
import * as fs from 'node:fs';
import type { TokenCredential } from '@azure/core-auth';
import type { BlobServiceClient, ContainerClient, StoragePipelineOptions } from '@azure/storage-blob';
import { ValidationError } from '../errors';
import { registerSecret } from '../logging';
import { startAzurite, type Azurite, type StartAzuriteOptions } from './azurite';
import { DEFAULT_CONTAINER, validContainerName } from './layout';

type StorageBlob = typeof import('@azure/storage-blob');
/** Loaded on first use. */
const blobSdk = (): StorageBlob => require('@azure/storage-blob') as StorageBlob;

/** Environment variable holding a storage connection string. */
export const STORAGE_CONNECTION_STRING_ENV = 'SPILLWAY_STORAGE_CONNECTION_STRING';
/** The default asset container: the one the service reads (see `storageLayout`). */
export const DEFAULT_ASSET_CONTAINER = DEFAULT_CONTAINER;

/** Retry and timeout settings applied to every client Spillway builds. */
export interface StorageClientOptions {
  /** Per-request timeout. @default 60 seconds */
  readonly tryTimeoutMs?: number;
  /** Attempts per request, first included. @default 4 */
  readonly maxTries?: number;
  /** First back-off delay. @default 250 ms */
  readonly retryDelayMs?: number;
  /** Largest back-off delay. @default 8 seconds */
  readonly maxRetryDelayMs?: number;
}

/** Pipeline options (timeouts, retries, no logging of headers) for `@azure/storage-blob` clients. */
export function pipelineOptions(options: StorageClientOptions = {}): StoragePipelineOptions {
  return {
    retryOptions: {
      retryPolicyType: blobSdk().StorageRetryPolicyType.EXPONENTIAL,
      maxTries: options.maxTries ?? 4,
      tryTimeoutInMs: options.tryTimeoutMs ?? 60_000,
      retryDelayInMs: options.retryDelayMs ?? 250,
      maxRetryDelayInMs: options.maxRetryDelayMs ?? 8_000,
    },
    keepAliveOptions: { enable: true },
  };
}

/** Reads a connection string and checks that it has the parts a client needs (never echoing it). */
export function parseConnectionString(text: string, field = 'connectionString'): string {
  const cs = text.trim();
  const parts = new Map(
    cs
      .split(';')
      .filter(Boolean)
      .map((kv) => {
        const i = kv.indexOf('=');
        return [kv.slice(0, i).toLowerCase(), kv.slice(i + 1)] as const;
      }),
  );
  const hasEndpoint = parts.has('blobendpoint') || parts.has('accountname');
  const hasCredential = parts.has('accountkey') || parts.has('sharedaccesssignature');
  if (!hasEndpoint || !hasCredential) {
    throw new ValidationError(
      field,
      '<redacted>',
      'must be a storage connection string with AccountName or BlobEndpoint, and AccountKey or SharedAccessSignature',
    );
  }
  const key = parts.get('accountkey');
  if (key) registerSecret(key);
  const sas = parts.get('sharedaccesssignature');
  if (sas) registerSecret(sas);
  return cs;
}

/** Options of `openStorage`. */
export interface OpenStorageOptions extends StorageClientOptions {
  /** A connection string. @default env `SPILLWAY_STORAGE_CONNECTION_STRING` */
  readonly connectionString?: string;
  /** A file holding the connection string (wins over the environment). */
  readonly connectionStringFile?: string;
  /** An account URL used with `credential` (Entra ID); SAS are then user-delegation SAS. */
  readonly accountUrl?: string;
  readonly credential?: TokenCredential;
  /** With nothing configured: start Azurite (true) or fail (false). @default true */
  readonly embedded?: boolean;
  /** Options of the embedded Azurite. */
  readonly azurite?: Omit<StartAzuriteOptions, 'abortSignal'>;
  /** The environment to read. @default process.env */
  readonly env?: NodeJS.ProcessEnv;
  readonly abortSignal?: AbortSignal;
}

/** An open storage account. */
export interface OpenStorage {
  readonly serviceClient: BlobServiceClient;
  /** Where it came from (no secrets): `connection string`, `token credential`, or `embedded Azurite`. */
  readonly source: 'connection string' | 'token credential' | 'embedded Azurite';
  /** The embedded Azurite, when one was started. */
  readonly azurite: Azurite | undefined;
  /** A container client for a name, or for a container URL (with its SAS, if any). */
  container(nameOrUrl: string): ContainerClient;
  /** Stops the embedded Azurite, if any. Idempotent. */
  close(): Promise<void>;
}

/**
 * Opens the configured storage account: `connectionStringFile`, else `connectionString`,
 * else the environment variable, else `accountUrl` + `credential`, else (when `embedded`)
 * an Azurite started now and stopped by `close()`.
 */
export async function openStorage(options: OpenStorageOptions = {}): Promise<OpenStorage> {
  const sdk = blobSdk();
  const env = options.env ?? process.env;
  const pipe = pipelineOptions(options);
  let cs: string | undefined;
  if (options.connectionStringFile) {
    let text: string;
    try {
      text = fs.readFileSync(options.connectionStringFile, 'utf8');
    } catch {
      throw new ValidationError('connectionStringFile', options.connectionStringFile, 'cannot be read');
    }
    cs = parseConnectionString(text, 'connectionStringFile');
  } else if (options.connectionString) {
    cs = parseConnectionString(options.connectionString);
  } else if (env[STORAGE_CONNECTION_STRING_ENV]) {
    cs = parseConnectionString(env[STORAGE_CONNECTION_STRING_ENV]!, STORAGE_CONNECTION_STRING_ENV);
  }
  let azurite: Azurite | undefined;
  let serviceClient: BlobServiceClient;
  let source: OpenStorage['source'];
  if (cs) {
    serviceClient = sdk.BlobServiceClient.fromConnectionString(cs, pipe);
    source = 'connection string';
  } else if (options.accountUrl && options.credential) {
    serviceClient = new sdk.BlobServiceClient(options.accountUrl, options.credential, pipe);
    source = 'token credential';
  } else if (options.embedded ?? true) {
    azurite = await startAzurite({ ...options.azurite, abortSignal: options.abortSignal });
    serviceClient = sdk.BlobServiceClient.fromConnectionString(azurite.connectionString, pipe);
    source = 'embedded Azurite';
  } else {
    throw new ValidationError(
      STORAGE_CONNECTION_STRING_ENV,
      '',
      'no storage is configured: set it, pass a connection string file, or allow the embedded Azurite',
    );
  }
  return {
    serviceClient,
    source,
    azurite,
    container: (nameOrUrl) =>
      /^https?:\/\//i.test(nameOrUrl)
        ? new sdk.ContainerClient(nameOrUrl, sdk.newPipeline(new sdk.AnonymousCredential(), pipe))
        : serviceClient.getContainerClient(validContainerName(nameOrUrl)),
    close: async () => {
      await azurite?.stop();
    },
  };
}
