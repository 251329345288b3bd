/**
 * Shared access signatures issued per use: read-only (read + list) for inputs, create +
 * write only for outputs, scoped to a container or one blob, with a short expiry. Signed
 * with the account key when the client has one, else with a user delegation key
 * (`TokenCredential`). Flat blob namespaces cannot scope a SAS to a prefix: outputs of a
 * job therefore get their own container, or a SAS per blob.
 */
import type { ContainerClient, UserDelegationKey } from '@azure/storage-blob';
import { ValidationError } from '../errors';

import { pipelineOptions } from './client';
import { toStorageError } from './errors';

type StorageBlob = typeof import('@azure/storage-blob');
const blobSdk = (): StorageBlob => require('@azure/storage-blob') as StorageBlob;

/** What a SAS allows. `read`: read + list. `write`: create + write (no read, list or delete). */
export type SasAccess = 'read' | 'write';

/** Options of `issueSas`. */
export interface IssueSasOptions {
  /** What the holder may do. */
  readonly access: SasAccess;
  /** Scope to one blob of the container instead of the whole container. @default the container */
  readonly blobName?: string;
  /** Lifetime. @default 2 hours */
  readonly expiresInMs?: number;
  /** Back-dating of the start, for clock skew. @default 5 minutes */
  readonly clockSkewMs?: number;
  /** Allow plain HTTP (Azurite). @default true when the container URL is http, else false */
  readonly allowHttp?: boolean;
  /** Fixed "now" (tests). @default new Date() */
  readonly now?: Date;
  readonly abortSignal?: AbortSignal;
}

/** An issued SAS. */
export interface IssuedSas {
  /** The URL with the SAS: container URL, or blob URL when scoped to a blob. Do not log it. */
  readonly url: string;
  /** The query string alone (no leading `?`). Do not log it. */
  readonly query: string;
  readonly expiresOn: Date;
  /** Permissions granted, e.g. `rl` or `cw`. */
  readonly permissions: string;
  /** `service` (account key) or `userDelegation` (Entra ID). */
  readonly kind: 'service' | 'userDelegation';
}

/** Permission letters for an access kind and scope. */
export function sasPermissions(access: SasAccess, scope: 'container' | 'blob'): string {
  if (access === 'read') return scope === 'container' ? 'rl' : 'r';
  return 'cw';
}

/** Signs a SAS with a user delegation key (pure: no network). */
export function userDelegationSas(
  containerName: string,
  accountName: string,
  key: UserDelegationKey,
  options: IssueSasOptions & { readonly startsOn: Date; readonly expiresOn: Date },
): string {
  const sdk = blobSdk();
  const scope = options.blobName ? 'blob' : 'container';
  return sdk
    .generateBlobSASQueryParameters(
      {
        containerName,
        blobName: options.blobName,
        permissions: sdk.ContainerSASPermissions.parse(sasPermissions(options.access, scope)),
        startsOn: options.startsOn,
        expiresOn: options.expiresOn,
        protocol: options.allowHttp ? sdk.SASProtocol.HttpsAndHttp : sdk.SASProtocol.Https,
      },
      key,
      accountName,
    )
    .toString();
}

/**
 * Issues a SAS for `container` (or one blob of it). With a `StorageSharedKeyCredential`
 * it is a service SAS; with a `TokenCredential` a user delegation key is fetched (valid as
 * long as the SAS) and a user-delegation SAS is signed.
 */
export async function issueSas(container: ContainerClient, options: IssueSasOptions): Promise<IssuedSas> {
  const sdk = blobSdk();
  if (options.access !== 'read' && options.access !== 'write') {
    throw new ValidationError('access', options.access, 'must be "read" or "write"');
  }
  const lifetime = options.expiresInMs ?? 2 * 3600_000;
  if (!Number.isFinite(lifetime) || lifetime <= 0 || lifetime > 7 * 24 * 3600_000) {
    throw new ValidationError('expiresInMs', lifetime, 'must be positive and at most 7 days');
  }
  const now = options.now ?? new Date();
  const startsOn = new Date(now.getTime() - (options.clockSkewMs ?? 5 * 60_000));
  const expiresOn = new Date(now.getTime() + lifetime);
  const allowHttp = options.allowHttp ?? container.url.startsWith('http:');
  const scope = options.blobName ? 'blob' : 'container';
  const permissions = sasPermissions(options.access, scope);
  const baseUrl = options.blobName ? container.getBlobClient(options.blobName).url : container.url;
  const cred = container.credential;
  let query: string;
  let kind: IssuedSas['kind'];
  if (cred instanceof sdk.StorageSharedKeyCredential) {
    query = sdk
      .generateBlobSASQueryParameters(
        {
          containerName: container.containerName,
          blobName: options.blobName,
          permissions: sdk.ContainerSASPermissions.parse(permissions),
          startsOn,
          expiresOn,
          protocol: allowHttp ? sdk.SASProtocol.HttpsAndHttp : sdk.SASProtocol.Https,
        },
        cred,
      )
      .toString();
    kind = 'service';
  } else if (cred && typeof (cred as { getToken?: unknown }).getToken === 'function') {
    const accountUrl = new URL(container.url);
    accountUrl.pathname = accountUrl.pathname.replace(/\/[^/]+\/?$/, '');
    const service = new sdk.BlobServiceClient(accountUrl.toString(), cred as never, pipelineOptions());
    let key: UserDelegationKey;
    try {
      key = await service.getUserDelegationKey(startsOn, expiresOn, { abortSignal: options.abortSignal });
    } catch (e) {
      throw toStorageError(e, 'get user delegation key from', service.url);
    }
    query = userDelegationSas(container.containerName, container.accountName, key, {
      ...options,
      allowHttp,
      startsOn,
      expiresOn,
    });
    kind = 'userDelegation';
  } else {
    throw new ValidationError(
      'container',
      container.url.split('?')[0],
      'has no account key or token credential to sign a SAS with (a client built from a SAS cannot issue one)',
    );
  }
  const sep = baseUrl.includes('?') ? '&' : '?';
  return { url: `${baseUrl}${sep}${query}`, query, expiresOn, permissions, kind };
}
