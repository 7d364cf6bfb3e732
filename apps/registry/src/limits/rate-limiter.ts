import type Redis from 'ioredis';
import type { Logger } from '../observability/logger';

export type RateClass = 'read' | 'write';

export type RateDecision = { allowed: true } | { allowed: false; retryAfterSeconds: number };

/** Per-registry operations-per-minute budget shared by every replica. */
export interface RateLimiter {
  consume(registryId: string, kind: RateClass, limitPerMinute: number): Promise<RateDecision>;
}

const WINDOW_MS = 60_000;
/** A rate-limit check never delays a request by more than this. */
const REDIS_TIMEOUT_MS = 250;

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Redis did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Fixed one-minute windows counted in Redis: one `INCR` per request (plus
 * an `EXPIRE` for the first request of each window). When Redis is down or
 * slow (no answer within 250 ms) the limiter fails open (logged at most every 30 s): throttling is a
 * protection, and must never be the reason pulls fail.
 */
export class RedisRateLimiter implements RateLimiter {
  private lastWarning = 0;

  constructor(
    private readonly redis: Redis,
    private readonly keyPrefix: string,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  async consume(registryId: string, kind: RateClass, limitPerMinute: number): Promise<RateDecision> {
    if (limitPerMinute <= 0) return { allowed: true };
    const now = this.now();
    const window = Math.floor(now / WINDOW_MS);
    const key = `${this.keyPrefix}rate:${registryId}:${kind}:${window}`;
    let count: number;
    try {
      count = await withTimeout(this.redis.incr(key), REDIS_TIMEOUT_MS);
      // The first request of a window sets its expiry; a key whose EXPIRE got
      // lost is harmless (it names a past window) and tiny.
      if (count === 1) this.redis.expire(key, 120).catch(() => undefined);
    } catch (error) {
      if (now - this.lastWarning > 30_000) {
        this.lastWarning = now;
        this.log.warn({ err: error }, 'rate limiter unavailable (Redis); allowing requests');
      }
      return { allowed: true };
    }
    if (count <= limitPerMinute) return { allowed: true };
    return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(((window + 1) * WINDOW_MS - now) / 1000)) };
  }
}
