// A worker in a child process, for tests that kill it (SIGKILL) mid-job.
// Run: node -r scripts/register.js apps/worker/test/support/worker-process.ts '<json>'
// where json = { env: {...}, overrides: {...} }. Prints "ready" once started.
import { loadConfig } from '@berth/config';
import { createWorker } from '../../src/worker';
import type { WorkerOverrides } from '../../src/worker-options';

async function run(): Promise<void> {
  const { env, overrides } = JSON.parse(process.argv[2] ?? '{}') as { env: Record<string, string>; overrides: WorkerOverrides };
  const worker = await createWorker(loadConfig(env), overrides);
  await worker.start();
  process.stdout.write('ready\n');
  process.once('SIGTERM', () => {
    void worker.stop().then(() => process.exit(0));
  });
}

run().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
