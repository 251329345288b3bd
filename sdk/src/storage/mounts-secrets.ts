/**
 * Resolving mounts' credential references where a secret must be handed over: Azure Batch
 * takes an Azure Files account key, a Blob account key or SAS, or a CIFS password in the pool
 * request itself. The secret is read at the moment the pool is created, goes into that request
 * only, and is never logged or kept.
 */
import * as fs from 'node:fs';
import { ValidationError } from '../errors';
import { parseCredentialReference, type MountSpec } from './mounts';

/**
 * The secret of each mount that names one by `file:` (trimmed), by mount name. Mounts with an
 * identity or no credential need none. A Key Vault reference is refused for Batch: the service
 * does not read Key Vault (a scale set's instances do, at boot).
 */
export async function resolveMountSecrets(
  mounts: readonly MountSpec[],
  prefix = 'group.mounts',
): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const [i, m] of mounts.entries()) {
    if (!m.credentialReference) continue;
    const ref = parseCredentialReference(m.credentialReference);
    const field = `${prefix}[${i}].credentialReference`;
    if (ref.kind === 'identity') continue;
    if (ref.kind === 'keyVault')
      throw new ValidationError(
        field,
        m.credentialReference,
        'a Batch pool needs the secret when it is created and the service does not read Key Vault: name a file on the service host (file:/path, mode 600) or, for Blob, a managed identity (identity:<resource id>)',
      );
    let text: string;
    try {
      text = await fs.promises.readFile(ref.path, 'utf8');
    } catch (err) {
      throw new ValidationError(
        field,
        m.credentialReference,
        `cannot be read: ${(err as NodeJS.ErrnoException).code ?? 'error'}`,
      );
    }
    const secret = text.trim();
    if (secret === '') throw new ValidationError(field, m.credentialReference, 'names an empty file');
    out.set(m.name, secret);
  }
  return out;
}
