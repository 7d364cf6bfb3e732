import { adminPasswordAad, SecretBox } from '@berth/auth';
import { TestApp, errorFields, expectProblem, startTestApp } from './harness';

let t: TestApp;
let registryId: string;
const base = '/api/v1/registries/credreg';

beforeAll(async () => {
  t = await startTestApp();
  const created = await t.request('POST', '/api/v1/registries', { body: { name: 'CredReg' } });
  expect(created.status).toBe(201);
  registryId = created.body.id;
});
afterAll(async () => {
  await t?.close();
});

type Credentials = { username: string; passwords: { name: string; value: string }[] };

it('refuses to show or regenerate passwords while the admin user is disabled', async () => {
  const show = expectProblem(await t.request('GET', `${base}/credentials`), 409);
  expect(show.code).toBe('CREDENTIALS_ADMIN_USER_DISABLED');
  expect(show.detail).toContain('admin user');
  expectProblem(await t.request('POST', `${base}/credentials/regenerate`, { body: { name: 'password' } }), 409);
});

it('shows the user name and two distinct passwords once the admin user is enabled', async () => {
  expect((await t.request('PATCH', base, { body: { adminUserEnabled: true } })).status).toBe(200);
  const res = await t.request<Credentials>('GET', '/api/v1/registries/CREDREG/credentials');
  expect(res.status).toBe(200);
  expect(res.body.username).toBe('credreg');
  expect(res.body.passwords.map((p) => p.name)).toEqual(['password', 'password2']);
  const [one, two] = res.body.passwords.map((p) => p.value);
  expect(one).toMatch(/^[A-Za-z0-9_-]{43}$/);
  expect(two).toMatch(/^[A-Za-z0-9_-]{43}$/);
  expect(one).not.toBe(two);
  const alias = await t.request<Credentials>('POST', `${base}/listCredentials`);
  expect(alias.status).toBe(200);
  expect(alias.body).toEqual(res.body);
});

it('stores the passwords encrypted, bound to registry id and slot', async () => {
  const { body } = await t.request<Credentials>('GET', `${base}/credentials`);
  const rows = await t.db.$queryRaw<Record<string, unknown>[]>`SELECT * FROM "AdminCredential"`;
  const dump = JSON.stringify(rows);
  for (const password of body.passwords) expect(dump).not.toContain(password.value);
  // The data plane opens them with the same key and associated data.
  const box = new SecretBox(t.config.secretKey);
  for (const password of body.passwords) {
    const row = await t.db.adminCredential.findUniqueOrThrow({ where: { registryId_name: { registryId, name: password.name } } });
    expect(box.open(row.encryptedValue, adminPasswordAad(registryId, password.name))).toBe(password.value);
    expect(() => box.open(row.encryptedValue, adminPasswordAad(registryId, password.name === 'password' ? 'password2' : 'password'))).toThrow();
  }
});

it('regenerates one password and keeps the other', async () => {
  const before = (await t.request<Credentials>('GET', `${base}/credentials`)).body;
  const res = await t.request<Credentials>('POST', `${base}/credentials/regenerate`, { body: { name: 'password2' } });
  expect(res.status).toBe(200);
  expect(res.body.username).toBe('credreg');
  expect(res.body.passwords[0]).toEqual(before.passwords[0]);
  expect(res.body.passwords[1]!.name).toBe('password2');
  expect(res.body.passwords[1]!.value).not.toBe(before.passwords[1]!.value);
  expect((await t.request<Credentials>('GET', `${base}/credentials`)).body).toEqual(res.body);
});

it('validates the password name', async () => {
  for (const body of [{ name: 'password3' }, {}, { name: 1 }]) {
    const res = await t.request('POST', `${base}/credentials/regenerate`, { body });
    expectProblem(res, 400);
    expect(errorFields(res)).toEqual(['name']);
  }
});

it('answers 404 for an unknown registry', async () => {
  expectProblem(await t.request('GET', '/api/v1/registries/nosuchregistry/credentials'), 404);
  expectProblem(await t.request('POST', '/api/v1/registries/nosuchregistry/credentials/regenerate', { body: { name: 'password' } }), 404);
});
