import { performance } from 'node:perf_hooks';
import type Redis from 'ioredis';
import type { Logger } from '../observability/logger';

export type RateClass = 'read' | 'write';

export type RateDecision = { allowed: true } | { allowed: false; retryAfterSeconds: number };

/** Per-registry operations-per-minute budget shared by every replica. */
export interface RateLimiter {
  consume(registryId: string, kind: RateClass, limitPerMinute: number): Promise<RateDecision>;
  /** Stops background work and reports what is still unreported (bounded wait). */
  close(): Promise<void>;
}

export interface RedisRateLimiterOptions {
  /** Wall clock for windows and the warning throttle (tests freeze it). Default Date.now. */
  readonly now?: () => number;
  /**
   * How long a request may wait for Redis before it is allowed anyway, and how
   * long a report may go unanswered before Redis counts as slow. Default 250 ms
   * (the figure the comments below use). A stall of this process longer than
   * this (GC, a starved CPU) lets the requests waiting through it fail open even
   * when Redis answered in time, as designed; tests of the counting itself
   * raise it, so that a loaded CI machine cannot turn them into tests of that.
   */
  readonly redisTimeoutMs?: number;
}

const WINDOW_MS = 60_000;
/** By default a rate-limit check never delays a request by more than this. */
const DEFAULT_REDIS_TIMEOUT_MS = 250;
/** Window keys outlive their minute by at least one more, then Redis drops them. */
const KEY_TTL_SECONDS = 120;
/** Unreported counts reach Redis at least this often while Redis answers... */
const FLUSH_INTERVAL_MS = 100;
/** ...and are retried this often while it does not (no hammering a dead server). */
const RETRY_INTERVAL_MS = 1000;
/** Counters tracked per process (registries × 2 classes active this minute); the oldest goes first past it. */
const MAX_KEYS = 10_000;
const WARNING_INTERVAL_MS = 30_000;

/**
 * A key's count is reported as soon as this many admitted requests are
 * unreported: 1% of the budget, at least 1. Small enough that replicas learn
 * of each other's traffic long before a budget runs out; large enough that a
 * busy registry with a big budget is reported by the 100 ms timer, not once
 * per few requests (a 1000/min budget: at most ~100 threshold flushes a
 * minute per replica, and only while requests are still being admitted).
 */
function flushThreshold(limitPerMinute: number): number {
  return Math.max(1, Math.floor(limitPerMinute / 100));
}

/** A key's report on its way to Redis. */
interface Flight {
  /** performance.now() when sent: 250 ms later an unanswered report counts as Redis being slow. */
  readonly startedAt: number;
}

/** What this process knows about one (registry, class, window) counter. */
interface Entry {
  readonly key: string;
  readonly window: number;
  /** The global count from Redis's last reply; undefined until the first reply this window. */
  known: number | undefined;
  /** Admitted here, not yet sent to Redis. */
  pending: number;
  /** Admitted here, carried by the flight in progress (part of `known` once it answers). */
  inFlight: number;
  flight: Flight | undefined;
  /** flushThreshold of the latest limit seen for the key (an SKU can change mid-window). */
  threshold: number;
  /** Requests waiting for a report's answer, first come first served (see drain). */
  readonly waiters: Waiter[];
}

/** A request whose decision waits for Redis; it fails open at its own 250 ms deadline. */
interface Waiter {
  readonly limit: number;
  readonly now: number;
  readonly window: number;
  readonly resolve: (decision: RateDecision) => void;
  readonly deadline: NodeJS.Timeout;
}

/**
 * Fixed one-minute windows counted in Redis (`${prefix}rate:${registry}:${class}:${window}`),
 * with the counting done locally and reported in the background, so that the
 * hot path costs no Redis round trip (one `INCR` per request put a round
 * trip's latency and CPU on every manifest and blob request).
 *
 * Per key the process keeps `known` (the global count of Redis's last reply)
 * and `pending` (requests it admitted and has not reported). A request is
 * admitted iff `known + inFlight + pending < limit`; refused requests are not
 * counted. Reports are `MULTI INCRBY n / EXPIRE 120` — the INCRBY reply, which
 * includes every other replica's reports, is the new `known` — sent by a timer
 * every 100 ms for keys with pending counts, and at once when a key's pending
 * count reaches its threshold (1% of the limit, at least 1; see flushThreshold).
 * One report per key is in flight at a time; a request that finds the
 * threshold reached while one is (the replica admits faster than Redis
 * answers) waits for that answer, within the 250 ms bound. Waiting requests
 * queue per key and are decided in arrival order by the code that handles
 * the answer, as many as the new count allows, so a burst of thousands at
 * the edge of a budget costs one wake-up each, not one per answer.
 *
 * Exactness for one replica: the first request of a key in a window waits
 * for one `INCRBY 0` round trip (at most 250 ms; concurrent first requests
 * share it) to learn the count, instead of assuming 0 — the count may be
 * other replicas' or this process's from before a restart. After that every
 * decision is local and, with a single replica, `known + inFlight + pending`
 * is exactly the number admitted this window: the N-th request past the
 * budget is refused immediately, as with the per-request INCR (a refusal the
 * count proves never waits for Redis).
 *
 * Several replicas: each one decides on its own `known`, which misses what
 * the others have admitted but not reported. A replica's unreported count
 * never exceeds 2 × threshold (≤ threshold pending while a report carrying
 * ≤ threshold is in flight; past that it waits for the answer), so it admits
 * at most 2 × threshold requests between two answers, and a window's global
 * total exceeds the limit by at most replicas × 2 × threshold: 3 replicas
 * with a 1000/min budget (threshold 10) admit at most 1060, i.e. ≤ 2% ×
 * replicas over. A small budget (< 200/min, threshold 1) is at most 2 per
 * replica over. (Requests let through by failing open, below, come on top.)
 *
 * Memory: only the current window's keys are kept (older ones are dropped
 * when the minute turns — their counts no longer decide anything), at most
 * MAX_KEYS of them, the oldest evicted first. A dropped key's unreported count
 * is sent once, best effort; if that fails it is lost (an under-count, the
 * fail-open direction), and an evicted key that comes back learns its count
 * again like a new one.
 *
 * Failure: the limiter fails open as before, logged at most every 30 s:
 * throttling is a protection, and must never be the reason pulls fail. When
 * Redis is down (a report fails) every request is allowed until a report
 * succeeds again. When it is slow, a request that needs an answer waits for
 * it at most 250 ms and is then allowed; once a key's report has gone 250 ms
 * unanswered, such requests are allowed without waiting. Requests allowed so
 * stay counted in `pending` and are reported once Redis answers again
 * (retried every second), within the same window. A failed report whose
 * command did reach Redis (the connection dropped after sending) is counted
 * twice; that is rare and errs towards limiting.
 *
 * Timeouts use the monotonic clock; windows and the warning throttle use
 * `now` (injectable for tests).
 */
export class RedisRateLimiter implements RateLimiter {
  private readonly entries = new Map<string, Entry>();
  private window = Number.NaN;
  /** False from a failed report until the next successful one: while false every request is allowed. */
  private healthy = true;
  private lastError: unknown;
  private lastWarning = Number.NEGATIVE_INFINITY;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  /** Every report on its way, dropped entries' included (flush waits for them all). */
  private readonly flights = new Set<Promise<void>>();

  private readonly now: () => number;
  private readonly timeoutMs: number;

  constructor(
    private readonly redis: Redis,
    private readonly keyPrefix: string,
    private readonly log: Logger,
    options: RedisRateLimiterOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.timeoutMs = options.redisTimeoutMs ?? DEFAULT_REDIS_TIMEOUT_MS;
    if (!(this.timeoutMs > 0)) throw new RangeError(`redisTimeoutMs must be positive, got ${this.timeoutMs}`);
  }

  /**
   * Decides at once from the local counts whenever it can — the hot path, no
   * I/O. Queues (at most 250 ms) only for a count not known yet this window,
   * or for the answer to a report once `threshold` requests are unreported.
   */
  async consume(registryId: string, kind: RateClass, limitPerMinute: number): Promise<RateDecision> {
    if (limitPerMinute <= 0) return { allowed: true };
    const now = this.now();
    const window = Math.floor(now / WINDOW_MS);
    if (window !== this.window) this.startWindow(window);
    const key = `${this.keyPrefix}rate:${registryId}:${kind}:${window}`;
    const entry = this.entries.get(key) ?? this.track(key, window);
    entry.threshold = flushThreshold(limitPerMinute);

    if (entry.waiters.length > 0) this.drain(entry);
    if (entry.waiters.length === 0 && !this.mustWait(entry, limitPerMinute)) return this.decide(entry, limitPerMinute, now, window);
    return new Promise<RateDecision>((resolve) => {
      const waiter: Waiter = {
        limit: limitPerMinute,
        now,
        window,
        resolve,
        deadline: setTimeout(() => {
          const index = entry.waiters.indexOf(waiter);
          if (index === -1) return;
          entry.waiters.splice(index, 1);
          resolve(this.failOpen(entry));
          this.drain(entry);
        }, this.timeoutMs),
      };
      entry.waiters.push(waiter);
    });
  }

  /**
   * Reports every unreported count now and waits for the answers (at most
   * 250 ms altogether). For shutdown, so a replica's last counts are not lost,
   * and for tests.
   */
  async flush(): Promise<void> {
    const deadline = performance.now() + this.timeoutMs;
    for (;;) {
      for (const entry of this.entries.values()) {
        if (!entry.flight && entry.pending > 0) this.report(entry);
      }
      const remaining = deadline - performance.now();
      if (this.flights.size === 0 || remaining <= 0) return;
      await Promise.race([Promise.all(this.flights), delay(remaining)]);
      if (!this.healthy) return;
    }
  }

  /** Stops the timer (no report is scheduled afterwards) and flushes what is left. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.flush();
  }

  /**
   * Whether a decision for this key must wait for Redis's answer: its count
   * is unknown this window, or `threshold` requests are unreported besides
   * the report in flight (and the count does not already prove the budget
   * spent). Starts the report to wait for when none is in flight — a full
   * threshold then leaves as inFlight and needs no answer. Never while Redis
   * is failing, nor on a report unanswered for 250 ms: the request then fails
   * open at once.
   */
  private mustWait(entry: Entry, limit: number): boolean {
    if (!this.healthy) return false;
    const known = entry.known;
    if (known !== undefined && (entry.pending < entry.threshold || known + entry.inFlight + entry.pending >= limit)) return false;
    if (!entry.flight) {
      this.report(entry);
      return known === undefined;
    }
    return performance.now() - entry.flight.startedAt < this.timeoutMs;
  }

  /** The decision once mustWait is false (or a waiter's deadline passed). Never yields. */
  private decide(entry: Entry, limit: number, now: number, window: number): RateDecision {
    const known = entry.known;
    if (this.healthy && known !== undefined) {
      if (known + entry.inFlight + entry.pending >= limit) {
        return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(((window + 1) * WINDOW_MS - now) / 1000)) };
      }
      if (entry.pending < entry.threshold) {
        entry.pending++;
        if (entry.pending >= entry.threshold && !entry.flight) this.report(entry);
        else this.schedule();
        return { allowed: true };
      }
    }
    return this.failOpen(entry);
  }

  /** Redis is down, or did not answer in time: allow, but keep the count to report later. */
  private failOpen(entry: Entry): RateDecision {
    entry.pending++;
    this.schedule();
    this.warnUnavailable();
    return { allowed: true };
  }

  /**
   * Decides the key's waiting requests in arrival order for as long as the
   * key's state allows deciding; called whenever that state may have changed
   * (an answer, a failure, a waiter leaving, a new request). Decisions follow
   * one another without yielding, so each sees the count the previous one left.
   */
  private drain(entry: Entry): void {
    for (let waiter = entry.waiters[0]; waiter && !this.mustWait(entry, waiter.limit); waiter = entry.waiters[0]) {
      entry.waiters.shift();
      clearTimeout(waiter.deadline);
      waiter.resolve(this.decide(entry, waiter.limit, waiter.now, waiter.window));
    }
  }

  /** Sends the key's pending count (possibly 0, to learn the count) as one INCRBY + EXPIRE. */
  private report(entry: Entry): void {
    const amount = entry.pending;
    entry.pending = 0;
    entry.inFlight = amount;
    const done = Promise.resolve()
      .then(() => this.redis.multi().incrby(entry.key, amount).expire(entry.key, KEY_TTL_SECONDS).exec())
      .then((replies) => {
        const [error, count] = replies?.[0] ?? [new Error('Redis aborted the MULTI transaction'), undefined];
        if (error) throw error;
        if (typeof count !== 'number') throw new Error(`unexpected INCRBY reply ${String(count)}`);
        return count;
      })
      .then(
        (count) => {
          entry.known = count;
          entry.inFlight = 0;
          entry.flight = undefined;
          this.healthy = true;
          this.drain(entry);
          if (entry.flight || entry.pending === 0) return;
          // A dropped entry (past window, evicted) sends what is left at once; it has no timer.
          if (entry.pending >= entry.threshold || this.entries.get(entry.key) !== entry) this.report(entry);
          else this.schedule();
        },
        (error: unknown) => {
          entry.pending += entry.inFlight;
          entry.inFlight = 0;
          entry.flight = undefined;
          this.healthy = false;
          this.lastError = error;
          this.warnUnavailable();
          this.drain(entry);
          this.schedule();
        },
      );
    entry.flight = { startedAt: performance.now() };
    // `done` never rejects: its handlers do the bookkeeping.
    this.flights.add(done);
    void done.then(() => this.flights.delete(done));
  }

  private schedule(): void {
    if (this.timer || this.closed) return;
    this.timer = setTimeout(() => this.tick(), this.healthy ? FLUSH_INTERVAL_MS : RETRY_INTERVAL_MS);
    this.timer.unref();
  }

  private tick(): void {
    this.timer = undefined;
    if (this.closed) return;
    const window = Math.floor(this.now() / WINDOW_MS);
    if (window !== this.window) this.startWindow(window);
    for (const entry of this.entries.values()) {
      if (!entry.flight && (entry.pending > 0 || entry.known === undefined)) this.report(entry);
    }
  }

  /**
   * Drops every other window's entries: their counts no longer decide
   * anything. What they hold unreported is sent once, best effort, so the
   * window's count in Redis ends up true; a failure there is not retried.
   */
  private startWindow(window: number): void {
    this.window = window;
    for (const entry of this.entries.values()) {
      if (entry.window !== window) this.forget(entry);
    }
  }

  /** Stops tracking a key; what it holds unreported is sent once (the answer's handler sees it is no longer tracked). */
  private forget(entry: Entry): void {
    this.entries.delete(entry.key);
    if (!entry.flight && entry.pending > 0) this.report(entry);
  }

  private track(key: string, window: number): Entry {
    if (this.entries.size >= MAX_KEYS) {
      const oldest = this.entries.values().next();
      if (!oldest.done) this.forget(oldest.value);
    }
    const entry: Entry = { key, window, known: undefined, pending: 0, inFlight: 0, flight: undefined, threshold: 1, waiters: [] };
    this.entries.set(key, entry);
    return entry;
  }

  private warnUnavailable(): void {
    const now = this.now();
    if (now - this.lastWarning < WARNING_INTERVAL_MS) return;
    this.lastWarning = now;
    const err = this.healthy ? new Error(`Redis did not answer within ${this.timeoutMs} ms`) : this.lastError;
    this.log.warn({ err }, 'rate limiter unavailable (Redis); allowing requests');
  }
}

function delay(ms: number): Promise<void> {
  return new Promise<void>((resolve) => setTimeout(resolve, ms).unref());
}
