import './threadpool'; // before anything can start libuv's thread pool
import { loadConfig } from '@berth/config';
import { createLogger } from './observability/logger';
import { createRegistryServer } from './registry-server';

/** Standalone data plane: `npm run start:registry`. */
async function main(): Promise<void> {
  const config = loadConfig();
  const log = createLogger(config);
  const { server, close } = await createRegistryServer(config, { logger: log, defaultMetrics: true });
  server.listen(config.registryPort, () => {
    log.info({ port: config.registryPort, tls: Boolean(config.tls), domain: config.domain, storage: config.storage.driver }, 'registry listening');
  });
  const shutdown = (signal: string) => {
    log.info({ signal }, 'registry shutting down');
    close().then(
      () => process.exit(0),
      (error: unknown) => {
        log.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
