import { Inject, Injectable } from '@nestjs/common';
import type { Db } from '@berth/db';
import type { Redis } from 'ioredis';
import { CommonException, CommonExceptionCode } from '../common/common.exception';
import type { Logger } from '../common/logger';
import { DB, LOGGER, REDIS } from '../common/tokens';

const CHECK_TIMEOUT_MS = 2000;

function withTimeout<T>(work: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

export interface ReadinessDto {
  status: 'ok';
  checks: { postgres: 'ok'; redis: 'ok' };
}

@Injectable()
export class HealthService {
  constructor(
    @Inject(DB) private readonly db: Db,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  /** Ready when PostgreSQL answers SELECT 1 and Redis answers PING; otherwise 503 naming what failed. */
  async readiness(): Promise<ReadinessDto> {
    const [postgres, redis] = await Promise.allSettled([
      withTimeout(this.db.$queryRaw`SELECT 1`, 'PostgreSQL'),
      withTimeout(this.redis.ping(), 'Redis'),
    ]);
    const failures: string[] = [];
    if (postgres.status === 'rejected') failures.push(`PostgreSQL: ${String((postgres.reason as Error)?.message ?? postgres.reason)}`);
    if (redis.status === 'rejected') failures.push(`Redis: ${String((redis.reason as Error)?.message ?? redis.reason)}`);
    if (failures.length > 0) {
      this.logger.warn({ failures }, 'not ready');
      throw new CommonException(CommonExceptionCode.NotReady, `Unreachable: ${failures.join('; ')}`);
    }
    return { status: 'ok', checks: { postgres: 'ok', redis: 'ok' } };
  }
}
