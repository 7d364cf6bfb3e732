import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { JobProducer, outboxJobId } from '@berth/events';
import pino from 'pino';
import { OutboxRelay } from '../src/outbox/outbox-relay';
import { OutboxRepository } from '../src/outbox/outbox.repository';
import { createRegistry, createWebhook, writePushEvent } from './support/fixtures';
import { createHarness, freePort, SHARED_REDIS_URL, startReceiver, waitFor, type Harness, type Receiver } from './support/harness';

describe('outbox relay', () => {
  let h: Harness;
  let receiver: Receiver;

  beforeAll(async () => {
    h = await createHarness();
    receiver = await startReceiver();
  });

  afterAll(async () => {
    await h?.close();
    await receiver?.close();
  });

  it('never hands one row to two relays (FOR UPDATE SKIP LOCKED) and adds one job per row', async () => {
    const registry = await createRegistry(h.db);
    const ids: bigint[] = [];
    for (let i = 0; i < 120; i++) ids.push((await writePushEvent(h.db, registry)).id);

    const producers = [new JobProducer({ redisUrl: SHARED_REDIS_URL, prefix: h.prefix }, { failFast: true }), new JobProducer({ redisUrl: SHARED_REDIS_URL, prefix: h.prefix }, { failFast: true })];
    const silent = pino({ level: 'silent' });
    const relays = producers.map(
      (producer) => new OutboxRelay(new OutboxRepository(h.db), producer, silent, { pollIntervalMs: 10, batchSize: 7, jobBackoffMs: 100 }),
    );
    try {
      // Both relays drain the same outbox concurrently, in small batches.
      const drain = async (relay: OutboxRelay) => {
        while ((await relay.relayOnce()) > 0);
      };
      await Promise.all(relays.map(drain));
      const rows = await h.db.outboxEvent.findMany({ where: { id: { in: ids } } });
      expect(rows).toHaveLength(120);
      // attempts counts publications: exactly one each means no row was taken twice.
      expect(rows.every((row) => row.sentAt !== null && row.attempts === 1 && row.lastError === null)).toBe(true);
      const queue = producers[0]!.queue('berth-events');
      const jobs = await Promise.all(ids.map((id) => queue.getJob(outboxJobId(id))));
      expect(jobs.every((job) => job?.name === 'webhook.fanout')).toBe(true);
    } finally {
      await Promise.all(producers.map((producer) => producer.close()));
    }
  });

  it('marks an unknown or malformed event as sent with its error instead of blocking the outbox', async () => {
    const row = await h.db.outboxEvent.create({ data: { registryId: null, type: 'something.else', payload: {} } });
    const producer = new JobProducer({ redisUrl: SHARED_REDIS_URL, prefix: h.prefix }, { failFast: true });
    try {
      const relay = new OutboxRelay(new OutboxRepository(h.db), producer, pino({ level: 'silent' }), { pollIntervalMs: 10, batchSize: 10, jobBackoffMs: 100 });
      await relay.relayOnce();
      const after = await h.db.outboxEvent.findUniqueOrThrow({ where: { id: row.id } });
      expect(after.sentAt).not.toBeNull();
      expect(after.lastError).toMatch(/unknown event type something.else/);
      const malformed = await h.db.outboxEvent.create({ data: { registryId: null, type: 'image.push', payload: { registryId: 'r' } } });
      await relay.relayOnce();
      expect(await h.db.outboxEvent.findUniqueOrThrow({ where: { id: malformed.id } })).toMatchObject({ lastError: 'payload.eventId is missing', attempts: 1 });
    } finally {
      await producer.close();
    }
  });

  describe('with Redis down at the moment of the change', () => {
    let redis: ChildProcess | undefined;
    let port: number;
    let redisUrl: string;

    const startRedis = async () => {
      const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
      redis = child;
      await waitFor(async () => {
        const probe = new JobProducer({ redisUrl, prefix: 'probe' }, { failFast: true, addTimeoutMs: 300 });
        try {
          await probe.queue('berth-events').getJobCounts('waiting');
          return true;
        } catch {
          return false;
        } finally {
          await probe.close();
        }
      }, 'redis-server to accept connections');
    };
    const stopRedis = async () => {
      const child = redis;
      redis = undefined;
      if (!child || child.exitCode !== null) return;
      await new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      });
    };

    beforeAll(async () => {
      port = await freePort();
      redisUrl = `redis://127.0.0.1:${port}`;
    });

    afterAll(async () => {
      await stopRedis();
    });

    it('keeps the event in the outbox (attempts and error recorded) and delivers it once Redis is back', async () => {
      await startRedis();
      const worker = await h.startWorker({}, { REDIS_URL: redisUrl });
      const registry = await createRegistry(h.db);
      const webhook = await createWebhook(h.db, h.config, registry.id, { uri: `${receiver.url}/after-outage`, actions: ['push'] });
      try {
        await stopRedis();
        // The data plane commits a push while Redis is unreachable.
        const { id, payload } = await writePushEvent(h.db, registry, { eventId: randomUUID() });
        const failing = await waitFor(async () => {
          const row = await h.db.outboxEvent.findUniqueOrThrow({ where: { id } });
          return row.attempts >= 2 && row;
        }, 'failed relay attempts to be recorded');
        expect(failing.sentAt).toBeNull();
        expect(failing.lastError).toMatch(/Redis/);
        expect(receiver.requests.filter((r) => r.url === '/after-outage')).toHaveLength(0);

        await startRedis(); // empty: nothing survived in Redis, the outbox is the only record
        const request = await waitFor(async () => receiver.requests.find((r) => r.url === '/after-outage'), 'the webhook after Redis came back', 30_000);
        expect(JSON.parse(request.body)).toMatchObject({ id: payload.eventId, action: 'push', target: { digest: payload.digest } });
        const sent = await h.db.outboxEvent.findUniqueOrThrow({ where: { id } });
        expect(sent.sentAt).not.toBeNull();
        expect(sent.lastError).toBeNull();
        await waitFor(async () => (await h.db.webhookEvent.count({ where: { webhookId: webhook.id, status: 'succeeded' } })) === 1, 'the recorded success');
      } finally {
        await worker.stop();
        await stopRedis();
      }
    }, 45_000);
  });
});
