import { randomUUID } from 'node:crypto';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import Redis, { type RedisOptions } from 'ioredis';
import pino from 'pino';
import type { Logger } from '../observability/logger';
import { RedisRateLimiter, type RateDecision } from './rate-limiter';

// Against the real Redis of the machine: what matters here is what reaches it, and when.
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const WINDOW_MS = 60_000;

/** A logger whose warnings the test can count. */
function capturingLogger(): { log: Logger; warnings: () => string[] } {
  const lines: string[] = [];
  const log = pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) });
  return { log, warnings: () => lines.filter((line) => line.includes('rate limiter unavailable')) };
}

function allowedCount(decisions: RateDecision[]): number {
  return decisions.filter((d) => d.allowed).length;
}

async function consumeSequentially(limiter: RedisRateLimiter, registryId: string, times: number, limit: number): Promise<RateDecision[]> {
  const decisions: RateDecision[] = [];
  for (let i = 0; i < times; i++) decisions.push(await limiter.consume(registryId, 'read', limit));
  return decisions;
}

/**
 * A TCP proxy to the real Redis that can be taken down (connections dropped
 * and refused) and brought back: an outage the client recovers from.
 */
async function outageProxy(): Promise<{ port: number; setDown: (down: boolean) => void; close: () => Promise<void> }> {
  const target = new URL(REDIS_URL);
  const sockets = new Set<Socket>();
  let down = false;
  const server = createServer((client) => {
    if (down) return void client.destroy();
    const upstream = connect(Number(target.port || 6379), target.hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => undefined);
      socket.on('close', () => {
        sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const dropAll = () => sockets.forEach((socket) => socket.destroy());
  return {
    port: (server.address() as AddressInfo).port,
    setDown: (value) => {
      down = value;
      if (down) dropAll();
    },
    close: async () => {
      dropAll();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A client without offline queue, as the registry server makes; by default it never reconnects. */
function clientOn(port: number, extra: RedisOptions = {}): Redis {
  const client = new Redis({
    host: '127.0.0.1',
    port,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: 100,
    disconnectTimeout: 10,
    ...extra,
  });
  client.on('error', () => undefined);
  return client;
}

describe('RedisRateLimiter', () => {
  const prefix = `test:rate-limiter:${randomUUID()}:`;
  // One frozen clock per test, so that no test straddles a minute boundary.
  let clock = Date.now();
  const frozen = () => clock;
  const window = () => Math.floor(clock / WINDOW_MS);
  const keyOf = (registryId: string, w = window()) => `${prefix}rate:${registryId}:read:${w}`;
  let redis: Redis;
  const limiters: RedisRateLimiter[] = [];
  const quiet = pino({ level: 'silent' });

  const limiter = (now: () => number = frozen): RedisRateLimiter => {
    // These tests are about counting, not failing open: a Redis answer late
    // under a loaded CI machine must not let a waiting request through.
    const created = new RedisRateLimiter(redis, prefix, quiet, { now, redisTimeoutMs: 10_000 });
    limiters.push(created);
    return created;
  };
  const stored = async (key: string): Promise<number> => Number((await redis.get(key)) ?? 0);

  beforeAll(() => {
    redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  });

  beforeEach(() => {
    clock = Date.now();
  });

  afterAll(async () => {
    await Promise.all(limiters.map((l) => l.close()));
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  it('is exact for a single replica: the request past the budget is refused at once, and refusals are not counted', async () => {
    const l = limiter();
    const decisions = await consumeSequentially(l, 'exact', 7, 5);
    expect(decisions.map((d) => d.allowed)).toEqual([true, true, true, true, true, false, false]);
    const refused = decisions[5]!;
    expect(refused.allowed).toBe(false);
    if (!refused.allowed) {
      expect(refused.retryAfterSeconds).toBeGreaterThanOrEqual(1);
      expect(refused.retryAfterSeconds).toBeLessThanOrEqual(60);
    }
    // Concurrent first requests share the one INCRBY that learns the count, and stay exact.
    const burst = await Promise.all(Array.from({ length: 50 }, () => l.consume('burst', 'read', 20)));
    expect(allowedCount(burst)).toBe(20);
    await l.flush();
    expect(await stored(keyOf('exact'))).toBe(5);
    expect(await stored(keyOf('burst'))).toBe(20);
    const ttl = await redis.ttl(keyOf('exact'));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(120);
  });

  it('lets two replicas sharing Redis converge on one budget, over-admitting at most 2 × threshold each', async () => {
    const limit = 1000; // threshold 10 (1%): each replica holds at most 20 unreported
    const perReplicaBound = 2 * 10;
    const a = limiter();
    const b = limiter();

    // B learns the count early (1), then A spends the rest; A started after B's report, so it is exact.
    expect((await b.consume('shared', 'read', limit)).allowed).toBe(true);
    await b.flush();
    const fromA = await consumeSequentially(a, 'shared', 1100, limit);
    expect(allowedCount(fromA)).toBe(999);
    await a.flush();
    expect(await stored(keyOf('shared'))).toBe(1000);

    // B's known count (1) is stale: it admits some before its reports come back with 1000+, never more than the bound.
    const fromB = await consumeSequentially(b, 'shared', 100, limit);
    const overB = allowedCount(fromB);
    expect(overB).toBeLessThanOrEqual(perReplicaBound);
    expect(fromB.slice(-50).every((d) => !d.allowed)).toBe(true); // converged: refused since
    await b.flush();
    expect(await stored(keyOf('shared'))).toBe(1000 + overB);

    // Both admitting at once from a fresh window count: at least the budget, at most the budget + 2 × bound.
    const c = limiter();
    const d = limiter();
    const calls: Promise<RateDecision>[] = [];
    for (let i = 0; i < 800; i++) calls.push(c.consume('race', 'read', limit), d.consume('race', 'read', limit));
    const admitted = allowedCount(await Promise.all(calls));
    expect(admitted).toBeGreaterThanOrEqual(limit);
    expect(admitted).toBeLessThanOrEqual(limit + 2 * perReplicaBound);
    await Promise.all([c.flush(), d.flush()]);
    expect(await stored(keyOf('race'))).toBe(admitted);
  });

  it('starts a fresh budget when the minute turns, counting each window under its own key', async () => {
    let now = (window() + 1) * WINDOW_MS + 30_000; // half a minute into a window of its own
    const l = limiter(() => now);
    const first = await consumeSequentially(l, 'rollover', 4, 3);
    expect(first.map((d) => d.allowed)).toEqual([true, true, true, false]);
    expect(first[3]).toEqual({ allowed: false, retryAfterSeconds: 30 });

    now += WINDOW_MS;
    const second = await consumeSequentially(l, 'rollover', 4, 3);
    expect(second.map((d) => d.allowed)).toEqual([true, true, true, false]);
    await l.flush();
    const w = Math.floor(now / WINDOW_MS);
    expect(await stored(keyOf('rollover', w - 1))).toBe(3);
    expect(await stored(keyOf('rollover', w))).toBe(3);
  });

  it('does no Redis round trip per request: counts reach Redis in a few INCRBYs, lagging behind', async () => {
    const l = limiter();
    const key = keyOf('hot');
    const monitored = new Redis(REDIS_URL);
    const monitor = await monitored.monitor();
    try {
      const commands: string[] = [];
      monitor.on('monitor', (_time: string, args: string[]) => {
        if (args.some((arg) => arg.startsWith(prefix))) commands.push(args.join(' ').toLowerCase());
      });

      const decisions = await consumeSequentially(l, 'hot', 500, 1_000_000);
      for (let i = 0; i < 5; i++) decisions.push(...(await Promise.all(Array.from({ length: 100 }, () => l.consume('hot', 'read', 1_000_000)))));
      expect(allowedCount(decisions)).toBe(1000);
      expect(await stored(key)).toBeLessThan(1000); // only the background reports count in Redis

      await l.flush();
      expect(await stored(key)).toBe(1000);
      // MONITOR is asynchronous: wait until it has shown a command sent after the flush.
      const sentinel = `${prefix}sentinel`;
      await redis.get(sentinel);
      for (let i = 0; i < 100 && !commands.some((c) => c.includes(sentinel)); i++) await new Promise((r) => setTimeout(r, 10));
      expect(commands.some((c) => c.includes(sentinel))).toBe(true);
      const increments = commands.filter((c) => c.startsWith(`incrby ${key}`));
      expect(increments.length).toBeGreaterThanOrEqual(2); // the first (learning the count) and the last
      expect(increments.length).toBeLessThanOrEqual(10);
    } finally {
      monitor.disconnect();
      monitored.disconnect();
    }
  });

  it('refuses a Redis timeout that is not a positive number of milliseconds', () => {
    for (const redisTimeoutMs of [0, -1, Number.NaN]) {
      expect(() => new RedisRateLimiter(redis, prefix, quiet, { redisTimeoutMs })).toThrow(RangeError);
    }
  });

  it('fails open when Redis is unreachable, warning once, and does not make requests wait', async () => {
    const dead = clientOn(1);
    const { log, warnings } = capturingLogger();
    const l = new RedisRateLimiter(dead, prefix, log);
    try {
      const started = performance.now();
      const decisions = await consumeSequentially(l, 'down', 20, 1);
      expect(decisions.every((d) => d.allowed)).toBe(true);
      expect(performance.now() - started).toBeLessThan(200);
      expect(warnings()).toHaveLength(1);
    } finally {
      await l.close();
      dead.disconnect();
    }
  });

  it('fails open through an outage, keeping the counts it admitted, and reports them once Redis is back', async () => {
    const proxy = await outageProxy();
    const client = clientOn(proxy.port, { maxRetriesPerRequest: 1, retryStrategy: () => 50 });
    const { log, warnings } = capturingLogger();
    const l = new RedisRateLimiter(client, prefix, log, { now: frozen });
    const key = keyOf('outage');
    try {
      await new Promise<void>((resolve) => client.once('ready', () => resolve()));
      expect(allowedCount(await consumeSequentially(l, 'outage', 5, 10))).toBe(5);
      await l.flush();
      expect(await stored(key)).toBe(5);

      const gone = new Promise<void>((resolve) => client.once('close', () => resolve()));
      proxy.setDown(true);
      await gone;
      // Past the budget of 10, yet allowed: Redis cannot be asked.
      expect(allowedCount(await consumeSequentially(l, 'outage', 30, 10))).toBe(30);
      expect(warnings()).toHaveLength(1);

      proxy.setDown(false);
      await new Promise<void>((resolve) => client.once('ready', () => resolve()));
      for (let i = 0; i < 300 && (await stored(key)) < 35; i++) await new Promise((r) => setTimeout(r, 10));
      expect(await stored(key)).toBe(35); // the retry timer reported what the outage kept
      // Redis holds 35 as soon as it ran the INCRBY; the limiter learns it when
      // the reply reaches its own connection: wait for that report to settle.
      await l.flush();
      expect(await l.consume('outage', 'read', 10)).toMatchObject({ allowed: false });
    } finally {
      await l.close();
      client.disconnect();
      await proxy.close();
    }
  });

  it('fails open when Redis does not answer within 250 ms, waiting for it once', async () => {
    // A server that accepts connections and never answers: a hung Redis (the
    // client skips the commands it would wait for before it is ready).
    const sockets = new Set<Socket>();
    const hung: Server = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => hung.listen(0, '127.0.0.1', resolve));
    const silent = clientOn((hung.address() as AddressInfo).port, { enableReadyCheck: false, disableClientInfo: true, maxRetriesPerRequest: null });
    await new Promise<void>((resolve) => silent.once('ready', () => resolve()));
    const { log, warnings } = capturingLogger();
    const l = new RedisRateLimiter(silent, prefix, log);
    try {
      const first = performance.now();
      expect(await l.consume('slow', 'read', 1)).toEqual({ allowed: true });
      const waited = performance.now() - first;
      expect(waited).toBeGreaterThanOrEqual(240);
      expect(waited).toBeLessThan(400);
      const rest = performance.now();
      const decisions = await consumeSequentially(l, 'slow', 10, 1);
      expect(decisions.every((d) => d.allowed)).toBe(true);
      expect(performance.now() - rest).toBeLessThan(100); // the unanswered report is not waited for again
      expect(warnings()).toHaveLength(1);

      // The bound is an option: a limiter told 60 ms waits that long, not 250 ms.
      const short = new RedisRateLimiter(silent, prefix, quiet, { redisTimeoutMs: 60 });
      const started = performance.now();
      expect(await short.consume('slow-short', 'read', 1)).toEqual({ allowed: true });
      const waitedShort = performance.now() - started;
      expect(waitedShort).toBeGreaterThanOrEqual(55);
      expect(waitedShort).toBeLessThan(200);
      await short.close();
    } finally {
      await l.close();
      silent.disconnect();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => hung.close(() => resolve()));
    }
  });
});
