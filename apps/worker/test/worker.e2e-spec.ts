import { createRegistry, createWebhook, writePushEvent } from './support/fixtures';
import { createHarness, startReceiver, waitFor, type Harness, type Receiver } from './support/harness';

describe('worker process: metrics and health', () => {
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

  it('serves /metrics (job counts and durations by queue/name/status, queue depth, outbox backlog), /healthz and /readyz', async () => {
    const worker = await h.startWorker({ metricsPort: 0, metricsHost: '127.0.0.1' });
    const base = `http://127.0.0.1:${worker.metricsPort}`;
    const registry = await createRegistry(h.db);
    const webhook = await createWebhook(h.db, h.config, registry.id, { uri: `${receiver.url}/m` });
    await writePushEvent(h.db, registry);
    await waitFor(async () => (await h.db.webhookEvent.count({ where: { webhookId: webhook.id } })) === 1, 'the delivery');

    const metrics = await waitFor(async () => {
      const text = await (await fetch(`${base}/metrics`)).text();
      return text.includes('name="webhook.deliver",status="completed"} 1') && text;
    }, 'the delivery to be counted');
    expect(metrics).toContain('berth_worker_jobs_total{queue="berth-events",name="webhook.fanout",status="completed"} 1');
    expect(metrics).toMatch(/berth_worker_job_duration_seconds_count\{queue="berth-webhooks",name="webhook.deliver",status="completed"\} 1/);
    expect(metrics).toContain('berth_worker_webhook_deliveries_total{outcome="succeeded"} 1');
    expect(metrics).toMatch(/berth_worker_queue_jobs\{queue="berth-webhooks",state="waiting"\} 0/);
    expect(metrics).toContain('berth_worker_outbox_pending 0');
    expect(metrics).toContain('berth_worker_process_cpu_user_seconds_total');

    const health = await fetch(`${base}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${base}/readyz`);
    expect(await ready.json()).toEqual({ status: 'ok', checks: { postgres: 'ok', redis: 'ok' } });
    expect((await fetch(`${base}/nope`)).status).toBe(404);
    expect((await fetch(`${base}/metrics`, { method: 'POST' })).status).toBe(405);

    await worker.stop();
    await expect(fetch(`${base}/healthz`)).rejects.toThrow();
  });
});
