/** Mounts between the wire (`spillway.v1.Mount`) and the SDK's `MountSpec`. Pure. */
import { ValidationError } from '../errors';
import { MountKind as WireMountKind, type Mount as WireMount } from '../gen/spillway/v1/capacity';
import type { MountKind, MountSpec } from './mounts';

const KINDS: ReadonlyArray<[WireMountKind, MountKind]> = [
  [WireMountKind.MOUNT_KIND_AZURE_BLOB, 'azureBlob'],
  [WireMountKind.MOUNT_KIND_AZURE_FILES, 'azureFiles'],
  [WireMountKind.MOUNT_KIND_AZURE_FILES_NFS, 'azureFilesNfs'],
  [WireMountKind.MOUNT_KIND_NFS, 'nfs'],
  [WireMountKind.MOUNT_KIND_CIFS, 'cifs'],
];

/** A wire mount as a `MountSpec`; an unset kind is refused naming `field`. */
export function mountFromWire(m: WireMount, field = 'spec.mounts[0]'): MountSpec {
  const kind = KINDS.find(([w]) => w === m.kind)?.[1];
  if (!kind)
    throw new ValidationError(
      `${field}.kind`,
      WireMountKind[m.kind] ?? m.kind,
      'must be MOUNT_KIND_AZURE_BLOB, AZURE_FILES, AZURE_FILES_NFS, NFS or CIFS',
    );
  return {
    name: m.name,
    kind,
    source: m.source,
    ...(m.relativeMountPath ? { relativeMountPath: m.relativeMountPath } : {}),
    ...(m.mountOptions ? { mountOptions: m.mountOptions } : {}),
    ...(m.credentialReference ? { credentialReference: m.credentialReference } : {}),
    ...(m.username ? { username: m.username } : {}),
    ...(m.writable ? { writable: true } : {}),
    ...(m.fileCache
      ? {
          fileCache: {
            ...(m.fileCache.timeoutSeconds ? { timeoutSeconds: m.fileCache.timeoutSeconds } : {}),
            ...(m.fileCache.maxSizeMb ? { maxSizeMb: m.fileCache.maxSizeMb } : {}),
          },
        }
      : {}),
  };
}

/** A `MountSpec` on the wire. */
export function mountToWire(m: MountSpec): WireMount {
  return {
    name: m.name,
    kind: KINDS.find(([, k]) => k === m.kind)?.[0] ?? WireMountKind.MOUNT_KIND_UNSPECIFIED,
    source: m.source,
    relativeMountPath: m.relativeMountPath ?? '',
    mountOptions: m.mountOptions ?? '',
    credentialReference: m.credentialReference ?? '',
    username: m.username ?? '',
    writable: m.writable ?? false,
    fileCache: m.fileCache
      ? { timeoutSeconds: m.fileCache.timeoutSeconds ?? 0, maxSizeMb: m.fileCache.maxSizeMb ?? 0 }
      : undefined,
  };
}

/** Every wire mount of a spec as `MountSpec`s (kinds checked; `validateMounts` checks the rest). */
export function mountsFromWire(mounts: readonly WireMount[], prefix = 'spec.mounts'): MountSpec[] {
  return mounts.map((m, i) => mountFromWire(m, `${prefix}[${i}]`));
}
