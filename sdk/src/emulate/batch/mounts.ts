/**
 * A pool's `mountConfiguration` as the Batch service takes it: at most 10 file systems, each
 * entry exactly one of `azureBlobFileSystemConfiguration`, `azureFileShareConfiguration`,
 * `nfsMountConfiguration`, `cifsMountConfiguration`, with their required properties (a Blob
 * container exactly one of `accountKey`, `sasKey`, `identityReference`), relative mount paths
 * that stay below the mounts directory and do not repeat. Errors are Batch's
 * `MissingRequiredProperty` / `InvalidPropertyValue` naming the property; a secret's value is
 * never repeated in an error. GET pool answers with the configuration less its secrets.
 */
import type { EngineMount } from '../../compute/local/types';
import { invalidProperty, missingProperty } from './wire';

type Json = Record<string, unknown>;

/** Most file systems a pool mounts (a Batch limit). */
export const MAX_POOL_MOUNTS = 10;

const KINDS = [
  'azureBlobFileSystemConfiguration',
  'azureFileShareConfiguration',
  'nfsMountConfiguration',
  'cifsMountConfiguration',
] as const;

const SECRETS = new Set(['accountKey', 'sasKey', 'password']);

function field(o: Json, name: string, path: string, required: boolean): string | undefined {
  const v = o[name];
  if (v === undefined || v === null || v === '') {
    if (required) throw missingProperty(`${path}.${name}`);
    return undefined;
  }
  if (typeof v !== 'string')
    throw invalidProperty(`${path}.${name}`, SECRETS.has(name) ? '(not shown)' : v, 'must be a string');
  return v;
}

function relativePath(o: Json, path: string): string {
  const rel = field(o, 'relativeMountPath', path, true)!;
  if (
    rel.startsWith('/') ||
    rel.startsWith('\\') ||
    /^[A-Za-z]:/.test(rel) ||
    rel.split(/[\\/]/).includes('..')
  )
    throw invalidProperty(
      `${path}.relativeMountPath`,
      rel,
      'the path must be relative to the mounts directory (AZ_BATCH_NODE_MOUNTS_DIR) and stay below it',
    );
  return rel.replace(/\\/g, '/').replace(/\/+$/, '');
}

/** Parses and checks `mountConfiguration`: the engine's mounts, each with its secret-free Batch JSON. */
export function parseMountConfiguration(value: unknown): EngineMount[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value)) throw invalidProperty('mountConfiguration', value, 'must be a list');
  if (value.length > MAX_POOL_MOUNTS)
    throw invalidProperty(
      'mountConfiguration',
      `${value.length} entries`,
      `at most ${MAX_POOL_MOUNTS} file systems can be mounted on a pool`,
    );
  const seen = new Set<string>();
  return value.map((raw: unknown, i): EngineMount => {
    const at = `mountConfiguration[${i}]`;
    if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw invalidProperty(at, raw);
    const entry = raw as Json;
    const given = KINDS.filter((k) => entry[k] !== undefined && entry[k] !== null);
    if (given.length !== 1)
      throw invalidProperty(
        at,
        given.join(', ') || '{}',
        `exactly one of ${KINDS.join(', ')} must be specified`,
      );
    const kind = given[0]!;
    const path = `${at}.${kind}`;
    const o = entry[kind];
    if (!o || typeof o !== 'object' || Array.isArray(o)) throw invalidProperty(path, o);
    const c = o as Json;
    const rel = relativePath(c, path);
    if (seen.has(rel.toLowerCase()))
      throw invalidProperty(`${path}.relativeMountPath`, rel, 'another file system is mounted at this path');
    seen.add(rel.toLowerCase());
    const echo: Json = {};
    const keep = (name: string, required: boolean): string | undefined => {
      const v = field(c, name, path, required);
      if (v !== undefined && !SECRETS.has(name)) echo[name] = v;
      return v;
    };
    switch (kind) {
      case 'azureBlobFileSystemConfiguration': {
        const account = keep('accountName', true)!;
        const container = keep('containerName', true)!;
        const key = keep('accountKey', false);
        const sas = keep('sasKey', false);
        const identity = c.identityReference;
        if (identity !== undefined && identity !== null) {
          const id = identity as Json;
          if (typeof id !== 'object' || typeof id.resourceId !== 'string' || id.resourceId === '')
            throw invalidProperty(`${path}.identityReference.resourceId`, id.resourceId ?? null);
          echo.identityReference = { resourceId: id.resourceId };
        }
        const credentials = [key, sas, identity ?? undefined].filter((x) => x !== undefined).length;
        if (credentials !== 1)
          throw invalidProperty(
            path,
            `${credentials} credentials`,
            'exactly one of accountKey, sasKey and identityReference must be specified',
          );
        const options = keep('blobfuseOptions', false);
        echo.relativeMountPath = rel;
        return {
          kind: 'azureBlob',
          source: `https://${account}.blob.core.windows.net/${container}`,
          relativeMountPath: rel,
          ...(options ? { mountOptions: options } : {}),
          batch: { [kind]: echo },
        };
      }
      case 'azureFileShareConfiguration': {
        keep('accountName', true);
        const url = keep('azureFileUrl', true)!;
        if (!/^https:\/\/[a-z0-9]+\.file\.[a-z0-9.-]+\/[a-z0-9-]+\/?$/.test(url))
          throw invalidProperty(
            `${path}.azureFileUrl`,
            url,
            "must be of the form 'https://{account}.file.core.windows.net/{share}'",
          );
        keep('accountKey', true);
        const options = keep('mountOptions', false);
        echo.relativeMountPath = rel;
        return {
          kind: 'azureFiles',
          source: url.replace(/\/$/, ''),
          relativeMountPath: rel,
          ...(options ? { mountOptions: options } : {}),
          batch: { [kind]: echo },
        };
      }
      case 'nfsMountConfiguration':
      case 'cifsMountConfiguration': {
        if (kind === 'cifsMountConfiguration') keep('username', true);
        const source = keep('source', true)!;
        if (kind === 'cifsMountConfiguration') keep('password', true);
        const options = keep('mountOptions', false);
        echo.relativeMountPath = rel;
        return {
          kind: kind === 'nfsMountConfiguration' ? 'nfs' : 'cifs',
          source,
          relativeMountPath: rel,
          ...(options ? { mountOptions: options } : {}),
          batch: { [kind]: echo },
        };
      }
    }
  });
}
