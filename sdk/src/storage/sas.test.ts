import type { UserDelegationKey } from '@azure/storage-blob';
import { sasPermissions, userDelegationSas } from './sas';

describe('sasPermissions', () => {
  test.each<[Parameters<typeof sasPermissions>[0], Parameters<typeof sasPermissions>[1], string]>([
    ['read', 'container', 'rl'],
    ['read', 'blob', 'r'],
    ['write', 'container', 'cw'],
    ['write', 'blob', 'cw'],
  ])('GIVEN %s on a %s THEN %s (never delete, never read for outputs)', (access, scope, expected) => {
    expect(sasPermissions(access, scope)).toBe(expected);
  });
});

describe('userDelegationSas', () => {
  // A user delegation key as Entra ID returns it; the value is a test fixture, not a secret.
  const key: UserDelegationKey = {
    signedObjectId: '00000000-0000-0000-0000-000000000001',
    signedTenantId: '00000000-0000-0000-0000-000000000002',
    signedStartsOn: new Date('2026-01-01T00:00:00Z'),
    signedExpiresOn: new Date('2026-01-01T02:00:00Z'),
    signedService: 'b',
    signedVersion: '2021-08-06',
    value: Buffer.from('fixture-user-delegation-key-value').toString('base64'),
  };
  const startsOn = new Date('2026-01-01T00:00:00Z');
  const expiresOn = new Date('2026-01-01T02:00:00Z');

  test('GIVEN read access on a container THEN a signed user-delegation SAS with rl, https only', () => {
    const q = new URLSearchParams(
      userDelegationSas('assets', 'acct', key, { access: 'read', startsOn, expiresOn }),
    );
    expect(q.get('sp')).toBe('rl');
    expect(q.get('sr')).toBe('c');
    expect(q.get('spr')).toBe('https');
    expect(q.get('skoid')).toBe(key.signedObjectId);
    expect(q.get('se')).toBe('2026-01-01T02:00:00Z');
    expect(q.get('sig')).toMatch(/^[A-Za-z0-9+/=]{40,}$/);
  });

  test('GIVEN write access on one blob THEN cw scoped to the blob, and a different signature', () => {
    const read = new URLSearchParams(
      userDelegationSas('out', 'acct', key, { access: 'read', startsOn, expiresOn }),
    );
    const q = new URLSearchParams(
      userDelegationSas('out', 'acct', key, { access: 'write', blobName: 'job/f1.png', startsOn, expiresOn }),
    );
    expect(q.get('sp')).toBe('cw');
    expect(q.get('sr')).toBe('b');
    expect(q.get('sig')).not.toBe(read.get('sig'));
  });
});
