import { MetadataCache } from './metadata-cache';

describe('MetadataCache', () => {
  const registry = 'reg-1';
  let loads: number;
  const loader = (value: string | undefined) => async () => {
    loads += 1;
    return value;
  };

  beforeEach(() => {
    loads = 0;
  });

  it('serves nothing from memory until changes are heard, and again after they no longer are', async () => {
    const cache = new MetadataCache();
    await cache.get(registry, 'k', loader('a'), () => 1);
    await cache.get(registry, 'k', loader('a'), () => 1);
    expect(loads).toBe(2);
    cache.enable();
    await cache.get(registry, 'k', loader('a'), () => 1);
    expect(await cache.get(registry, 'k', loader('b'), () => 1)).toBe('a');
    expect(loads).toBe(3);
    cache.disable();
    expect(await cache.get(registry, 'k', loader('b'), () => 1)).toBe('b');
    expect(cache.size).toBe(0);
  });

  it('drops a registry’s answers on invalidation, and only that registry’s', async () => {
    const cache = new MetadataCache();
    cache.enable();
    await cache.get(registry, 'k', loader('a'), () => 1);
    await cache.get('reg-2', 'k', loader('x'), () => 1);
    cache.invalidate(registry);
    expect(await cache.get(registry, 'k', loader('b'), () => 1)).toBe('b');
    expect(await cache.get('reg-2', 'k', loader('y'), () => 1)).toBe('x');
  });

  it('does not keep an answer loaded while its registry changed (read before the change, stored after it)', async () => {
    const cache = new MetadataCache();
    cache.enable();
    let release!: (value: string) => void;
    const slow = cache.get(registry, 'k', () => new Promise<string>((resolve) => (release = resolve)), () => 1);
    cache.invalidate(registry); // the change commits while the old answer is in flight
    release('old');
    expect(await slow).toBe('old');
    expect(await cache.get(registry, 'k', loader('new'), () => 1)).toBe('new');
  });

  it('does not keep answers that are missing, expired or larger than a sixteenth of the budget, and stays within its byte budget', async () => {
    let now = 0;
    const cache = new MetadataCache({ maxBytes: 16 * 1024, ttlMs: 1000, now: () => now });
    cache.enable();
    await cache.get(registry, 'none', loader(undefined), () => 1);
    await cache.get(registry, 'none', loader(undefined), () => 1);
    expect(loads).toBe(2);

    await cache.get(registry, 'big', loader('big'), () => 2000);
    expect(cache.size).toBe(0);

    await cache.get(registry, 'k', loader('a'), () => 1);
    now = 1001;
    expect(await cache.get(registry, 'k', loader('b'), () => 1)).toBe('b');

    for (let i = 0; i < 200; i++) await cache.get(registry, `k${i}`, loader('v'), () => 700);
    expect(cache.heldBytes).toBeLessThanOrEqual(16 * 1024);
    expect(cache.size).toBeGreaterThan(0);
    // The newest stay, the oldest went.
    loads = 0;
    await cache.get(registry, 'k199', loader('v'), () => 700);
    await cache.get(registry, 'k0', loader('v'), () => 700);
    expect(loads).toBe(1);
  });
});
