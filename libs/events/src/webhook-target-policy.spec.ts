import { checkWebhookTarget, classifyAddress } from './webhook-target-policy';

describe('webhook target policy', () => {
  it.each([
    ['8.8.8.8', 'public'],
    ['127.0.0.1', 'loopback'],
    ['127.8.9.10', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['172.32.0.1', 'public'],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'private'],
    ['169.254.1.1', 'link-local'],
    ['169.254.169.254', 'metadata'],
    ['100.100.100.200', 'metadata'],
    ['0.0.0.0', 'unspecified'],
    ['224.0.0.1', 'multicast'],
    ['255.255.255.255', 'reserved'],
    ['::1', 'loopback'],
    ['::', 'unspecified'],
    ['fe80::1', 'link-local'],
    ['febf::1', 'link-local'],
    ['fc00::1', 'private'],
    ['fd12:3456::1', 'private'],
    ['fd00:ec2::254', 'metadata'],
    ['ff02::1', 'multicast'],
    ['2606:4700::1111', 'public'],
    ['::ffff:169.254.169.254', 'metadata'],
    ['::ffff:a9fe:a9fe', 'metadata'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:8.8.8.8', 'public'],
    ['64:ff9b::10.0.0.1', 'private'],
    ['2002:a9fe:0101::1', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
  ])('classifies %s as %s', (address, expected) => {
    expect(classifyAddress(address)).toBe(expected);
  });

  it('rejects non-addresses', () => {
    expect(() => classifyAddress('example.com')).toThrow();
  });

  const strict = { allowPrivateTargets: false, allowLoopbackTargets: false };
  const resolver = (map: Record<string, string[]>) => async (host: string) => {
    const list = map[host];
    if (!list) throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
    return list.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };

  it('refuses metadata and link-local even when everything else is allowed', async () => {
    const open = { allowPrivateTargets: true, allowLoopbackTargets: true };
    const result = await checkWebhookTarget('http://169.254.169.254/latest/meta-data', open);
    expect(result).toMatchObject({ allowed: false });
    expect(result.allowed === false && result.reason).toMatch(/metadata/);
    expect(await checkWebhookTarget('http://[fe80::1]:8080/hook', open)).toMatchObject({ allowed: false });
  });

  it('refuses private and loopback unless allowed', async () => {
    expect(await checkWebhookTarget('http://10.0.0.5/hook', strict)).toMatchObject({ allowed: false });
    expect(await checkWebhookTarget('http://10.0.0.5/hook', { ...strict, allowPrivateTargets: true })).toMatchObject({
      allowed: true,
      address: '10.0.0.5',
    });
    expect(await checkWebhookTarget('http://127.0.0.1:9/hook', strict)).toMatchObject({ allowed: false });
    expect(await checkWebhookTarget('http://[::1]:9/hook', { ...strict, allowLoopbackTargets: true })).toMatchObject({
      allowed: true,
      address: '::1',
      family: 6,
    });
  });

  it('checks every address a name resolves to', async () => {
    const resolve = resolver({ 'mixed.test': ['93.184.216.34', '169.254.169.254'], 'ok.test': ['93.184.216.34'] });
    expect(await checkWebhookTarget('https://mixed.test/x', strict, resolve)).toMatchObject({ allowed: false });
    expect(await checkWebhookTarget('https://ok.test/x', strict, resolve)).toMatchObject({ allowed: true, address: '93.184.216.34' });
    const unresolvable = await checkWebhookTarget('https://nope.test/x', strict, resolve);
    expect(unresolvable.allowed === false && unresolvable.reason).toMatch(/cannot resolve nope.test: ENOTFOUND/);
  });

  it('allows only http and https', async () => {
    expect(await checkWebhookTarget('ftp://8.8.8.8/x', strict)).toMatchObject({ allowed: false });
    expect(await checkWebhookTarget('file:///etc/passwd', strict)).toMatchObject({ allowed: false });
    expect(await checkWebhookTarget('not a url', strict)).toMatchObject({ allowed: false });
  });
});
