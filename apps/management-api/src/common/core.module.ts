import { DynamicModule, Global, Inject, Injectable, Module, OnApplicationShutdown } from '@nestjs/common';
import { SecretBox, SecretHasher } from '@berth/auth';
import type { BerthConfig } from '@berth/config';
import { requireDatabaseUrl } from '@berth/config';
import { SqlPool, type Db } from '@berth/db';
import type { Redis } from 'ioredis';
import type { Logger } from './logger';
import type { HttpMetrics } from './metrics';
import { CONFIG, DB, LOGGER, METRICS, REDIS, SECRET_BOX, SECRET_HASHER, SQL } from './tokens';

export interface CoreDependencies {
  config: BerthConfig;
  db: Db;
  redis: Redis;
  logger: Logger;
  metrics: HttpMetrics;
  /** Whether the app created (and so must close) the database client and the Redis connection. */
  owns: { db: boolean; redis: boolean };
}

const OWNERSHIP = Symbol('ResourceOwnership');

/** Closes the connections the app opened when Nest shuts down (app.close() or a signal). */
@Injectable()
class ConnectionCloser implements OnApplicationShutdown {
  constructor(
    @Inject(DB) private readonly db: Db,
    @Inject(SQL) private readonly sql: SqlPool,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(OWNERSHIP) private readonly owns: CoreDependencies['owns'],
  ) {}

  async onApplicationShutdown(): Promise<void> {
    // disconnect() rather than quit(): quit would first connect a lazy client that never connected.
    if (this.owns.redis) this.redis.disconnect();
    if (this.owns.db) await this.db.$disconnect();
    await this.sql.close();
  }
}

/** App-wide providers: configuration, database (Prisma, and a small plain-SQL pool), Redis, logger, metrics and the secret primitives. */
@Global()
@Module({})
export class CoreModule {
  static forRoot(deps: CoreDependencies): DynamicModule {
    return {
      module: CoreModule,
      providers: [
        { provide: CONFIG, useValue: deps.config },
        { provide: DB, useValue: deps.db },
        // Connects on first use: only repository deletes need it.
        { provide: SQL, useValue: new SqlPool(requireDatabaseUrl(deps.config), { maxConnections: 2, applicationName: 'berth-management' }) },
        { provide: REDIS, useValue: deps.redis },
        { provide: LOGGER, useValue: deps.logger },
        { provide: METRICS, useValue: deps.metrics },
        { provide: SECRET_BOX, useValue: new SecretBox(deps.config.secretKey) },
        { provide: SECRET_HASHER, useValue: new SecretHasher(deps.config.secretKey) },
        { provide: OWNERSHIP, useValue: deps.owns },
        ConnectionCloser,
      ],
      exports: [CONFIG, DB, SQL, REDIS, LOGGER, METRICS, SECRET_BOX, SECRET_HASHER],
    };
  }
}
