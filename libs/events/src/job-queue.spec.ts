import { JobHandlerRegistry } from './job-queue';
import { JOB_NAMES, JOB_QUEUE, QUEUES } from './queues';

describe('JobHandlerRegistry', () => {
  const noop = async () => undefined;

  it('demands exactly one handler per job name', () => {
    const registry = new JobHandlerRegistry().register('webhook.fanout', noop);
    expect(() => registry.register('webhook.fanout', noop)).toThrow(/already has a handler/);
    expect(() => registry.assertComplete()).toThrow(/no handler for job\(s\): webhook.deliver, registry.purge/);
    for (const name of Object.values(JOB_NAMES)) if (name !== 'webhook.fanout') registry.register(name, noop);
    expect(() => registry.assertComplete()).not.toThrow();
    expect(registry.queues().sort()).toEqual(Object.values(QUEUES).sort());
  });

  it('puts every job on a known queue', () => {
    for (const name of Object.values(JOB_NAMES)) expect(Object.values(QUEUES)).toContain(JOB_QUEUE[name]);
  });
});
