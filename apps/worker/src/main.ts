import { loadConfig } from '@berth/config';
import { createLogger } from './logger';
import { createWorker } from './worker';

/**
 * `npm run start:worker`: the worker alone (production runs one or more
 * replicas; they share the outbox and the queues safely).
 */
async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const logger = createLogger(config);
  const worker = await createWorker(config, { logger });
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    worker.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
  await worker.start();
}

main().catch((error: unknown) => {
  // Configuration errors list every problem; print them plainly and fail fast.
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
