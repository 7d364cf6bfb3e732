import { ConfigError, loadConfig } from '@berth/config';
import { createManagementApp } from './app.factory';
import { LOGGER } from './common/tokens';
import type { Logger } from './common/logger';

async function main(): Promise<void> {
  const config = loadConfig();
  const app = await createManagementApp(config);
  app.enableShutdownHooks();
  await app.listen(config.managementPort);
  const url = (await app.getUrl()).replace('[::1]', 'localhost').replace('127.0.0.1', 'localhost');
  app.get<Logger>(LOGGER).info({ url, docs: `${url}/docs` }, `management API listening on ${url}`);
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError) {
    process.stderr.write(`${error.message}\n`);
  } else {
    process.stderr.write(`management API failed to start: ${error instanceof Error ? error.stack : String(error)}\n`);
  }
  process.exit(1);
});
