/**
 * A per-process budget of bytes that requests may hold in memory at once
 * (manifest bodies being read, parsed and validated). A request asks for its
 * size before it reads; when the budget is spent it waits, first come first
 * served, until earlier requests give theirs back. A single request larger
 * than the whole budget is still served, alone.
 *
 * Why: the data plane runs with a capped V8 heap (see node-options.ts), and
 * a parsed manifest costs a few times its size in heap. Without a budget,
 * a burst of concurrent 4 MiB manifest PUTs could exhaust the heap; with it,
 * they queue instead and memory stays bounded whatever the concurrency.
 */
export class ByteBudget {
  private available: number;
  private readonly waiting: Array<{ bytes: number; grant: () => void }> = [];

  constructor(readonly capacity: number) {
    if (!(capacity > 0)) throw new Error('a byte budget needs a positive capacity');
    this.available = capacity;
  }

  /** Bytes currently handed out. */
  get inUse(): number {
    return this.capacity - this.available;
  }

  /** Requests waiting for bytes. */
  get queued(): number {
    return this.waiting.length;
  }

  /**
   * Runs `work` once `bytes` (capped at the capacity) are available, and
   * gives them back when it settles, whether it resolved or threw.
   */
  async run<T>(bytes: number, work: () => Promise<T>): Promise<T> {
    const held = Math.min(Math.max(0, Math.ceil(bytes)), this.capacity);
    await this.acquire(held);
    try {
      return await work();
    } finally {
      this.release(held);
    }
  }

  private acquire(bytes: number): Promise<void> {
    // Nobody jumps the queue: a small request waits behind a large one.
    if (this.waiting.length === 0 && bytes <= this.available) {
      this.available -= bytes;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => this.waiting.push({ bytes, grant: resolve }));
  }

  private release(bytes: number): void {
    this.available += bytes;
    while (this.waiting.length > 0 && this.waiting[0]!.bytes <= this.available) {
      const next = this.waiting.shift()!;
      this.available -= next.bytes;
      next.grant();
    }
  }
}
