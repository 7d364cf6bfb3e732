import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { BerthConfig } from '@berth/config';
import { requireDatabaseUrl } from '@berth/config';
import { Db, createDb } from '@berth/db';
import { Redis } from 'ioredis';
import type { DestinationStream } from 'pino';
import { AppModule } from './app.module';
import { installBodyParsing } from './common/body-parsing';
import { Logger, PinoNestLogger, createLogger } from './common/logger';
import { HttpMetrics } from './common/metrics';
import { setupOpenApi } from './common/openapi';
import { ProblemDetailsFilter } from './common/problem-details.filter';
import { ProblemResponder } from './common/problem-responder';
import { requestContextMiddleware } from './common/request-context.middleware';
import { BerthValidationPipe } from './common/validation.pipe';

export interface ManagementAppOverrides {
  /** A database client owned by the caller (not closed by the app). */
  db?: Db;
  /** A Redis connection owned by the caller (not closed by the app). */
  redis?: Redis;
  logger?: Logger;
  /** Where the JSON log goes when no logger is given (tests read it). */
  logDestination?: DestinationStream;
}

/** Redis is only probed by /readyz here, so commands fail fast instead of queueing while it is down. */
function createRedis(config: BerthConfig, logger: Logger): Redis {
  const redis = new Redis(config.redisUrl, {
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    connectTimeout: 1500,
    retryStrategy: (attempt) => Math.min(attempt * 250, 2000),
    // ioredis keeps a timer this long after disconnect() when the socket had already
    // failed; a short one lets the process (and test runs) exit promptly.
    disconnectTimeout: 200,
  });
  redis.on('error', (error: Error) => logger.debug({ err: error.message }, 'redis connection error'));
  return redis;
}

/**
 * Builds the management API, fully configured but not listening, so that
 * main.ts can listen on the configured port and tests on port 0.
 */
export async function createManagementApp(
  config: BerthConfig,
  overrides: ManagementAppOverrides = {},
): Promise<NestExpressApplication> {
  const logger = overrides.logger ?? createLogger(config, overrides.logDestination);
  const db = overrides.db ?? createDb(requireDatabaseUrl(config));
  const redis = overrides.redis ?? createRedis(config, logger);
  const metrics = new HttpMetrics();
  try {
    const app = await NestFactory.create<NestExpressApplication>(
      AppModule.register({ config, db, redis, logger, metrics, owns: { db: !overrides.db, redis: !overrides.redis } }),
      { bodyParser: false, logger: new PinoNestLogger(logger), abortOnError: false },
    );
    app.disable('x-powered-by');
    const responder = new ProblemResponder(logger);
    app.use(requestContextMiddleware(logger, metrics));
    installBodyParsing(app, responder);
    app.setGlobalPrefix('api/v1', { exclude: ['healthz', 'readyz', 'metrics'] });
    app.useGlobalFilters(new ProblemDetailsFilter(responder));
    app.useGlobalPipes(new BerthValidationPipe());
    setupOpenApi(app);
    return app;
  } catch (error) {
    if (!overrides.redis) redis.disconnect();
    if (!overrides.db) await db.$disconnect();
    throw error;
  }
}
