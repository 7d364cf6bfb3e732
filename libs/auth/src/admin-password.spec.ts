import { adminPasswordAad, openAdminPassword, sealAdminPassword } from './admin-password';
import { SecretBox } from './secret-box';

describe('admin password sealing', () => {
  const box = new SecretBox(Buffer.alloc(32, 3));
  const registryId = '3f2b8c1e-0000-4000-8000-000000000001';

  it('uses `${registryId}:${name}` as associated data (stored values depend on it)', () => {
    expect(adminPasswordAad(registryId, 'password2')).toBe(`${registryId}:password2`);
    const sealed = sealAdminPassword(box, registryId, 'password', 's3cret');
    expect(box.open(sealed, `${registryId}:password`)).toBe('s3cret');
  });

  it('opens only for the same registry and slot', () => {
    const sealed = sealAdminPassword(box, registryId, 'password', 's3cret');
    expect(openAdminPassword(box, registryId, 'password', sealed)).toBe('s3cret');
    expect(() => openAdminPassword(box, registryId, 'password2', sealed)).toThrow();
    expect(() => openAdminPassword(box, '3f2b8c1e-0000-4000-8000-000000000002', 'password', sealed)).toThrow();
    expect(() => openAdminPassword(new SecretBox(Buffer.alloc(32, 4)), registryId, 'password', sealed)).toThrow();
  });
});
