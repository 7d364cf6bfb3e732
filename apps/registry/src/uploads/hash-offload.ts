import { Worker } from 'node:worker_threads';
import { Digester, type DigestAlgorithm } from '@berth/oci';
import { releaseBufferMemory, wholeMemoryOf } from '@berth/storage';

/**
 * A running digest of an upload: Berth's own `Digester` (hashes on the
 * calling thread) or an `OffloadedDigest` (hashes on a worker thread).
 * `update` returns a promise only when the caller must wait before sending
 * more (the worker is behind).
 */
export interface RunningDigest {
  readonly algorithm: DigestAlgorithm;
  /** Bytes given to `update` so far. */
  readonly size: number;
  update(chunk: Buffer): Promise<void> | unknown;
  /**
   * Like `update` for each chunk, but the chunks are the digest's to free
   * (nothing reads them again): a chunk that is a whole buffer of its own
   * goes to the hashing thread as it is, without a copy, and is freed there
   * once hashed; any other is copied as `update` does.
   */
  updateOwned?(chunks: Buffer[]): Promise<void> | undefined;
  /** `algorithm:hex` of everything given so far; rejects when the hashing thread failed. */
  digest(): Promise<string> | string;
  /** Releases the state held for this digest (idempotent). */
  dispose?(): void;
}

/** Bytes gathered before one message goes to the worker (one copy, one postMessage per batch). */
const BATCH_BYTES = 1024 * 1024;
/**
 * Uploads hashed on the workers at once, by default. Offloading used to stop
 * at two per thread (with V8 marking the old generation during every upload,
 * offloading all 20 of the bench's parallel pushes measured ~10% slower than
 * hashing most inline); since the data plane starts with a 48 MiB initial
 * old space (node-options.ts) its event loop was the bottleneck of those 20
 * pushes, at 96–100% of a core while the hashing thread idled. Interleaved,
 * 3 rounds each (`BENCH_WORKLOADS=push-mono,push-parallel BENCH_ROUNDS=3
 * BENCH_LIMITS=0 npm run bench`), 2 cores: 20 parallel 16 MiB pushes
 * 470–518 MiB/s (1.13–1.25× Distribution) with two offloaded, 521–530
 * (1.27–1.29×) with all; a single push unchanged (605–691 vs 649–700).
 * The cap bounds memory: each offloaded upload holds a 1 MiB batch. With
 * this many uploads offloaded the shared in-flight budget is 8 MiB (it was
 * 32 with two): up to as many batch buffers are kept for reuse, and 8 MiB is
 * still ~7 ms of work queued for a hashing thread. Same bench, 2 runs: 20
 * parallel pushes 507 and 517 MiB/s (1.24×, 1.28×); the data plane's RSS
 * before the 1 GiB push 174 and 150 MiB (171 with two offloaded and 32 MiB).
 */
const MAX_OFFLOADED_DIGESTS = 32;
/** Bytes one upload may have in flight to the worker before its sender waits. */
const MAX_IN_FLIGHT_PER_DIGEST = 4 * 1024 * 1024;

type ToWorker =
  | { op: 'update'; id: number; algorithm: DigestAlgorithm; data: ArrayBuffer }
  | { op: 'owned'; id: number; algorithm: DigestAlgorithm; data: ArrayBuffer[]; bytes: number }
  | { op: 'digest'; id: number; algorithm: DigestAlgorithm; seq: number }
  | { op: 'drop'; id: number };
type FromWorker =
  | { op: 'done'; id: number; data: ArrayBuffer }
  | { op: 'freed'; id: number; bytes: number }
  | { op: 'digest'; id: number; seq: number; hex: string };

// Plain JavaScript, evaluated in the worker: no build step or file path to resolve.
const WORKER_SOURCE = `
const { MessageChannel, parentPort } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const hashes = new Map();
// Posting to a closed port detaches (frees) what it is given at once.
const sink = new MessageChannel().port1;
sink.close();
parentPort.on('message', (message) => {
  if (message.op === 'drop') { hashes.delete(message.id); return; }
  let hash = hashes.get(message.id);
  if (!hash) { hash = createHash(message.algorithm); hashes.set(message.id, hash); }
  if (message.op === 'update') {
    hash.update(new Uint8Array(message.data));
    // The memory goes back for reuse: no allocation (and no page faults) per batch.
    parentPort.postMessage({ op: 'done', id: message.id, data: message.data }, [message.data]);
  } else if (message.op === 'owned') {
    for (const data of message.data) hash.update(new Uint8Array(data));
    // Request chunks: nothing reads them again, so their memory is freed now, not at a collection.
    try { sink.postMessage(message.data, message.data); } catch {}
    parentPort.postMessage({ op: 'freed', id: message.id, bytes: message.bytes });
  } else {
    parentPort.postMessage({ op: 'digest', id: message.id, seq: message.seq, hex: hash.copy().digest('hex') });
  }
});
`;

/**
 * Hashes upload bytes on worker threads, so the event loop only receives,
 * batches and writes them: sha256 costs ~0.7–0.9 ms per MiB here, which on
 * the event loop serialised concurrent pushes behind one core.
 *
 * Bytes reach a worker two ways: `update` copies them into 1 MiB batches
 * (the caller keeps its buffers), `updateOwned` hands over request chunks
 * the file store has written (`AppendOptions.onStored`), which the worker
 * frees once hashed. Handing them over instead of copying, 3 runs each,
 * interleaved (`BENCH_WORKLOADS=push-mono,push-parallel BENCH_ROUNDS=4
 * BENCH_LIMITS=0 npm run bench`): server CPU per MiB of the 20 parallel
 * pushes 0.60, 0.75 and 0.74 of Distribution's in the same run against
 * 0.77, 0.80 and 0.81 copying (the copy was ~5% of the machine's samples
 * under perf); throughput and the single push unchanged within noise.
 * Memory is bounded: at most `maxInFlightBytes` in all and 4 MiB per digest
 * are queued to the workers; beyond that `update` returns a promise and the
 * upload stream waits (backpressure to the client).
 * If a worker dies, its digests reject and the caller re-hashes the stored
 * bytes; a new worker takes its place.
 */
export class HashOffload {
  private readonly workers: Array<Worker | undefined>;
  private readonly digests = new Map<number, OffloadedDigest>();
  private nextId = 1;
  private nextWorker = 0;
  private inFlight = 0;
  private readonly waiting: Array<() => void> = [];
  /** Batch buffers the workers gave back, reused by the next batches. */
  private readonly spare: ArrayBuffer[] = [];
  private closed = false;

  private readonly maxOffloaded: number;

  /**
   * `maxOffloaded` bounds the uploads hashed on the workers at once (each
   * holds a partly filled 1 MiB batch); past it, uploads hash inline.
   */
  constructor(
    threads: number,
    private readonly maxInFlightBytes = 8 * 1024 * 1024,
    maxOffloaded = MAX_OFFLOADED_DIGESTS,
  ) {
    this.workers = Array.from({ length: threads }, () => undefined);
    this.maxOffloaded = threads === 0 ? 0 : maxOffloaded;
    // Started now, not on the first upload: a thread takes tens of milliseconds to boot.
    for (let slot = 0; slot < threads; slot++) this.worker(slot);
  }

  /**
   * A running digest for a new upload: on a worker thread while fewer than
   * `maxOffloaded` uploads are being hashed there, else on the calling
   * thread (always, with 0 threads).
   */
  start(algorithm: DigestAlgorithm): RunningDigest {
    return this.digests.size < this.maxOffloaded && !this.closed ? this.create(algorithm) : Digester.create(algorithm);
  }

  /** A digest hashed on a worker thread. */
  create(algorithm: DigestAlgorithm): OffloadedDigest {
    if (this.closed || this.workers.length === 0) throw new Error('hash offload is closed or has no threads');
    const id = this.nextId++;
    const slot = this.nextWorker++ % this.workers.length;
    const digest = new OffloadedDigest(this, id, slot, algorithm);
    this.digests.set(id, digest);
    return digest;
  }

  /** Bytes queued to the workers and not yet hashed. */
  get bytesInFlight(): number {
    return this.inFlight;
  }

  async close(): Promise<void> {
    this.closed = true;
    const workers = this.workers.splice(0, this.workers.length);
    for (const digest of this.digests.values()) digest.fail(new Error('hash offload closed'));
    this.digests.clear();
    await Promise.all(workers.map((worker) => worker?.terminate()));
  }

  /** Internal: queues a batch, or owned chunks (transferred, not copied again). */
  post(slot: number, message: ToWorker, transfer: ArrayBuffer[] = []): void {
    const worker = this.worker(slot);
    if (message.op === 'update') this.inFlight += message.data.byteLength;
    else if (message.op === 'owned') this.inFlight += message.bytes;
    worker.postMessage(message, transfer);
  }

  /** Internal: a batch buffer, reused when one came back from a worker. */
  batchBuffer(): Buffer {
    const memory = this.spare.pop();
    return memory ? Buffer.from(memory) : Buffer.allocUnsafeSlow(BATCH_BYTES);
  }

  /** Internal: resolves when the shared in-flight budget has room. */
  whenBudget(): Promise<void> | undefined {
    if (this.inFlight < this.maxInFlightBytes) return undefined;
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  /** Internal: the digest is finished or abandoned. */
  forget(id: number, slot: number, tellWorker: boolean): void {
    if (!this.digests.delete(id)) return;
    if (tellWorker) this.workers[slot]?.postMessage({ op: 'drop', id } satisfies ToWorker);
  }

  private worker(slot: number): Worker {
    const existing = this.workers[slot];
    if (existing) return existing;
    const worker = new Worker(WORKER_SOURCE, { eval: true, name: `berth-hash-${slot}`, execArgv: [] });
    worker.unref();
    worker.on('message', (message: FromWorker) => {
      const digest = this.digests.get(message.id);
      if (message.op === 'done') {
        const bytes = message.data.byteLength;
        if (bytes === BATCH_BYTES && this.spare.length * BATCH_BYTES < this.maxInFlightBytes) this.spare.push(message.data);
        this.release(bytes);
        digest?.hashed(bytes);
      } else if (message.op === 'freed') {
        this.release(message.bytes);
        digest?.hashed(message.bytes);
      } else digest?.answered(message.seq, message.hex);
    });
    const lost = (error: Error) => {
      if (this.workers[slot] !== worker) return;
      this.workers[slot] = undefined;
      // Everything that worker held is gone: its digests fail, their queued bytes no longer count.
      for (const digest of [...this.digests.values()]) {
        if (digest.slot === slot) this.release(digest.fail(error));
      }
    };
    worker.on('error', lost);
    worker.on('exit', (code) => lost(new Error(`hash worker exited with code ${code}`)));
    this.workers[slot] = worker;
    return worker;
  }

  private release(bytes: number): void {
    this.inFlight -= bytes;
    while (this.inFlight < this.maxInFlightBytes && this.waiting.length > 0) this.waiting.shift()!();
  }
}

export class OffloadedDigest implements RunningDigest {
  private bytes = 0;
  private batch: Buffer | undefined;
  private batchLength = 0;
  /** Posted to the worker and not yet hashed. */
  private pending = 0;
  private drained: Array<() => void> = [];
  private answers = new Map<number, { resolve: (hex: string) => void; reject: (error: Error) => void }>();
  private seq = 0;
  private failure: Error | undefined;
  private disposed = false;

  constructor(
    private readonly offload: HashOffload,
    private readonly id: number,
    readonly slot: number,
    readonly algorithm: DigestAlgorithm,
  ) {}

  get size(): number {
    return this.bytes;
  }

  update(chunk: Buffer): Promise<void> | undefined {
    this.bytes += chunk.length;
    // Failed: the caller re-hashes from storage. Disposed: nobody will ask. Either way keep accepting bytes.
    if (this.failure || this.disposed) return undefined;
    let offset = 0;
    while (offset < chunk.length) {
      this.batch ??= this.offload.batchBuffer();
      const copied = chunk.copy(this.batch, this.batchLength, offset);
      this.batchLength += copied;
      offset += copied;
      if (this.batchLength === BATCH_BYTES) this.flush();
    }
    return this.backpressure();
  }

  updateOwned(chunks: Buffer[]): Promise<void> | undefined {
    if (this.failure || this.disposed) {
      for (const chunk of chunks) {
        this.bytes += chunk.length;
        releaseBufferMemory(chunk);
      }
      return undefined;
    }
    let owned: ArrayBuffer[] = [];
    let ownedBytes = 0;
    const postOwned = () => {
      if (owned.length === 0) return;
      this.pending += ownedBytes;
      this.offload.post(this.slot, { op: 'owned', id: this.id, algorithm: this.algorithm, data: owned, bytes: ownedBytes }, owned);
      owned = [];
      ownedBytes = 0;
    };
    for (const chunk of chunks) {
      const memory = wholeMemoryOf(chunk);
      if (memory) {
        // Bytes copied into the batch before this chunk must reach the worker first.
        this.flush();
        this.bytes += chunk.length;
        owned.push(memory);
        ownedBytes += chunk.length;
      } else {
        postOwned();
        void this.update(chunk); // backpressure is judged once, below
      }
    }
    postOwned();
    return this.backpressure();
  }

  async digest(): Promise<string> {
    if (this.failure) throw this.failure;
    this.flush();
    const seq = this.seq++;
    const answer = new Promise<string>((resolve, reject) => this.answers.set(seq, { resolve, reject }));
    this.offload.post(this.slot, { op: 'digest', id: this.id, algorithm: this.algorithm, seq });
    return `${this.algorithm}:${await answer}`;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.batch = undefined;
    this.offload.forget(this.id, this.slot, !this.failure);
  }

  /** Internal: the worker hashed `bytes` of ours. */
  hashed(bytes: number): void {
    this.pending -= bytes;
    if (this.pending < MAX_IN_FLIGHT_PER_DIGEST) this.wake();
  }

  /** Internal: the worker answered a digest request. */
  answered(seq: number, hex: string): void {
    this.answers.get(seq)?.resolve(hex);
    this.answers.delete(seq);
  }

  /** Internal: the worker is gone; returns the bytes that were queued to it. */
  fail(error: Error): number {
    const lost = this.pending;
    this.failure ??= error;
    this.pending = 0;
    this.batch = undefined;
    this.batchLength = 0;
    for (const { reject } of this.answers.values()) reject(this.failure);
    this.answers.clear();
    this.wake();
    this.offload.forget(this.id, this.slot, false);
    return lost;
  }

  private flush(): void {
    if (!this.batch || this.batchLength === 0 || this.failure) return;
    // The worker gets the batch's memory (transferred); a new batch is allocated for what follows.
    const memory = this.batch.buffer as ArrayBuffer; // a whole ArrayBuffer of BATCH_BYTES, offset 0
    const data = this.batchLength === memory.byteLength ? memory : memory.slice(0, this.batchLength);
    this.pending += this.batchLength;
    this.offload.post(this.slot, { op: 'update', id: this.id, algorithm: this.algorithm, data }, [data]);
    this.batch = undefined;
    this.batchLength = 0;
  }

  private backpressure(): Promise<void> | undefined {
    const shared = this.offload.whenBudget();
    if (this.pending < MAX_IN_FLIGHT_PER_DIGEST && !shared) return undefined;
    const own = this.pending < MAX_IN_FLIGHT_PER_DIGEST ? undefined : new Promise<void>((resolve) => this.drained.push(resolve));
    return Promise.all([own, shared]).then(() => undefined);
  }

  private wake(): void {
    const drained = this.drained;
    this.drained = [];
    for (const resolve of drained) resolve();
  }
}
