import type { Dirent } from 'node:fs';
import { mkdir, open, readdir, rmdir, stat, truncate, unlink, type FileHandle } from 'node:fs/promises';
import * as path from 'node:path';
import { Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { StorageError, type AppendOptions, type BlobStore, type UploadParts } from './blob-store';
import { releaseBufferMemory } from './release-memory';

const DRIVER = 'filesystem';

/**
 * Read size for blob streams. Node's 64 KiB default costs a syscall, a
 * promise round trip and a socket write per 64 KiB; 1 MiB reads measured
 * much faster pulls while keeping memory per download bounded.
 */
const READ_CHUNK_BYTES = 1024 * 1024;

/**
 * Upload bytes are gathered into batches of at least this much before each
 * file write: a request arrives in ~64 KiB pieces, and one write per piece
 * measured 15–25% slower than ≥1 MiB batches.
 */
const WRITE_BATCH_BYTES = 1024 * 1024;

/**
 * While an upload streams, its written bytes are flushed to disk in the
 * background (fdatasync, one at a time) once this many are unflushed. The
 * fsync that makes a blob durable before it is acknowledged then only waits
 * for the tail instead of the whole blob: disk writeback overlaps the network
 * transfer instead of following it. At 1 MiB (one write batch) a typical
 * layer of a few MiB is mostly on disk when its PUT arrives; at the earlier
 * 8 MiB, a 4 MiB layer began flushing only when its PATCH ended, and the PUT waited
 * for most of it (PUT of a 4 MiB blob 9.6 → 6.5–7.9 ms; large pushes
 * unchanged within noise). Flushes never overlap, so a slow disk sees fewer,
 * larger ones, not more.
 */
const BACKGROUND_SYNC_BYTES = 1024 * 1024;

/**
 * Bytes of a request a writer takes in while a batch is being written,
 * before the source waits (its Writable highWaterMark). Was one batch
 * (1 MiB); with 20 uploads at once every stream could hold that much in
 * request chunks while its write was in flight: more memory touched (the
 * first such burst after a start: ~28k page faults, RSS +75 MiB) and more
 * chunks surviving young collections. A quarter of a batch, interleaved A/B
 * (`BENCH_WORKLOADS=push-mono,push-parallel BENCH_ROUNDS=4 BENCH_LIMITS=0
 * npm run bench`, 3 runs vs 2): 20 parallel 16 MiB pushes 377–403 MiB/s
 * (1.21–1.29× Distribution) against 366–368 (1.10× both); the 256 MiB push
 * unchanged (2.30–2.93× vs 2.37–2.76×). Full `npm run bench` runs, where the
 * parallel pushes follow the big pushes and the pull, did not show the gain
 * (0.95× and 1.01× with it, 1.10× in one run without): not yet explained.
 */
const WRITER_BUFFER_BYTES = 256 * 1024;

/**
 * Stores each key as a file under `rootDir` (key segments become directories).
 * An upload is appended in place; it needs no parts state (`parts` stays []).
 * Postgres records a key only after completeUpload, so a file left half-written
 * by a crash is garbage for GC, never a visible blob.
 */
export class FilesystemBlobStore implements BlobStore {
  readonly driverName = DRIVER;
  readonly reportsStoredChunks = true;
  private readonly root: string;

  constructor(rootDir: string) {
    this.root = path.resolve(rootDir);
  }

  /** Creates the root directory. */
  async init(): Promise<void> {
    await mkdir(this.root, { recursive: true });
  }

  async appendUpload(key: string, offset: number, body: Readable, _parts: UploadParts, options: AppendOptions = {}): Promise<{ parts: UploadParts; size: number }> {
    const file = this.file(key);
    const handle = await this.openForAppend(file);
    let size: number;
    try {
      size = (await handle.stat()).size;
      if (size !== offset) throw new StorageError('InvalidOffset', `offset ${offset} does not match size ${size} of ${key}`, DRIVER);
    } catch (err) {
      await handle.close();
      throw err;
    }
    // Closes the handle when done or failed.
    const out = new BatchingFileWriter(file, handle, {
      batchBytes: WRITE_BATCH_BYTES,
      syncBytes: BACKGROUND_SYNC_BYTES,
      bufferBytes: WRITER_BUFFER_BYTES,
      releaseChunks: options.releaseChunks === true,
      onStored: options.onStored,
    });
    try {
      await pipeline(body, out);
    } catch (err) {
      // Undo the partial append so the caller can retry at the offset it recorded,
      // once the stream has closed and no write of it is still in flight.
      if (!out.closed) await new Promise<void>((resolve) => out.once('close', () => resolve()));
      await truncate(file, offset).catch(() => undefined);
      throw err;
    }
    return { parts: [], size: offset + out.bytesWritten };
  }

  async completeUpload(key: string, _parts: UploadParts): Promise<void> {
    const file = this.file(key);
    const handle = await this.openForAppend(file); // an empty blob has no file until now
    try {
      // The bytes and the directory entry must both be durable; the two
      // flushes run at once (a journaling file system commits them together).
      await Promise.all([handle.sync(), syncDirectory(path.dirname(file))]);
    } finally {
      await handle.close();
    }
  }

  async stat(key: string): Promise<{ size: number } | undefined> {
    try {
      const info = await stat(this.file(key));
      return info.isFile() ? { size: info.size } : undefined;
    } catch (err) {
      if (isCode(err, 'ENOENT', 'ENOTDIR')) return undefined;
      throw err;
    }
  }

  async read(key: string, range?: { start: number; end: number }): Promise<Readable> {
    const { handle, start, end } = await this.openRange(key, range);
    try {
      return handle.createReadStream({
        highWaterMark: readChunkSize(start, end),
        ...(range && { start, end }),
      });
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  async copyTo(
    key: string,
    range: { start: number; end: number } | undefined,
    out: Writable,
    ready: () => void,
    onBytes?: (bytes: number) => void,
  ): Promise<void> {
    const { handle, start, end } = await this.openRange(key, range);
    // A destination that closes early (the client went away) ends the copy.
    let onClose!: () => void;
    const closed = new Promise<never>((_, reject) => {
      onClose = () => reject(new Error('the destination closed before the copy finished'));
      out.once('close', onClose);
    });
    closed.catch(() => undefined);
    const write = (chunk: Buffer) =>
      Promise.race([new Promise<void>((resolve, reject) => out.write(chunk, (error) => (error ? reject(error) : resolve()))), closed]);
    try {
      if (out.destroyed) throw new Error('the destination closed before the copy started');
      ready();
      const chunk = readChunkSize(start, end);
      // Two buffers: one is read into while the other is being written. A
      // buffer is read into again only after its write has completed.
      const buffers = [Buffer.allocUnsafeSlow(chunk), Buffer.allocUnsafeSlow(chunk)];
      let writing: Promise<void> | undefined;
      for (let position = start, turn = 0; position <= end; turn ^= 1) {
        const buffer = buffers[turn]!;
        const { bytesRead } = await handle.read(buffer, 0, Math.min(chunk, end - position + 1), position);
        if (bytesRead === 0) throw new StorageError('NotFound', `${key} ended at ${position}, before byte ${end}`, DRIVER);
        await writing;
        writing = write(buffer.subarray(0, bytesRead));
        writing.catch(() => undefined); // awaited above or below; never an unhandled rejection if the loop throws first
        onBytes?.(bytesRead);
        position += bytesRead;
      }
      await writing;
    } finally {
      out.off('close', onClose);
      await handle.close();
    }
  }

  /** Opens a key for reading and resolves a range against its size (the open handle stays valid if the file is deleted meanwhile). */
  private async openRange(key: string, range: { start: number; end: number } | undefined): Promise<{ handle: FileHandle; start: number; end: number }> {
    let handle: FileHandle;
    try {
      handle = await open(this.file(key), 'r');
    } catch (err) {
      if (isCode(err, 'ENOENT', 'ENOTDIR', 'EISDIR')) throw new StorageError('NotFound', `${key} not found`, DRIVER, { cause: err });
      throw err;
    }
    try {
      const { size } = await handle.stat();
      if (range && range.start >= size) {
        throw new StorageError('InvalidOffset', `range start ${range.start} is past the end of ${key} (${size} bytes)`, DRIVER);
      }
      return { handle, start: range?.start ?? 0, end: range ? Math.min(range.end, size - 1) : size - 1 };
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    const file = this.file(key);
    try {
      await unlink(file);
    } catch (err) {
      if (!isCode(err, 'ENOENT', 'ENOTDIR')) throw err;
    }
    // Prune directories left empty; rmdir refuses non-empty ones, which ends the walk.
    for (let dir = path.dirname(file); dir !== this.root && dir.startsWith(this.root); dir = path.dirname(dir)) {
      if (!(await rmdir(dir).then(() => true, () => false))) break;
    }
  }

  async *list(prefix: string): AsyncIterable<{ key: string; size: number; lastModified: Date }> {
    const baseDir = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : '';
    for await (const file of this.walk(path.join(this.root, ...baseDir.split('/')))) {
      const key = path.relative(this.root, file).split(path.sep).join('/');
      if (!key.startsWith(prefix)) continue;
      const info = await stat(file).catch(() => undefined); // deleted while listing
      if (info) yield { key, size: info.size, lastModified: info.mtime };
    }
  }

  private async *walk(dir: string): AsyncGenerator<string> {
    let entries: Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      if (isCode(err, 'ENOENT', 'ENOTDIR')) return;
      throw err;
    }
    for (const entry of entries) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) yield* this.walk(full);
      else if (entry.isFile()) yield full;
    }
  }

  /** Maps a key to its file, refusing anything that would escape the root (the wrapper validates keys too). */
  private file(key: string): string {
    const file = path.resolve(this.root, ...key.split('/'));
    if (!file.startsWith(this.root + path.sep)) throw new StorageError('InvalidKey', `invalid key "${key}"`, DRIVER);
    return file;
  }

  /** Opens for appending, creating parent directories; retries once if a concurrent delete pruned them. */
  private async openForAppend(file: string): Promise<FileHandle> {
    for (let attempt = 0; ; attempt++) {
      await mkdir(path.dirname(file), { recursive: true });
      try {
        return await open(file, 'a');
      } catch (err) {
        if (attempt > 0 || !isCode(err, 'ENOENT')) throw err;
      }
    }
  }
}

/** fsync of a directory, so an entry created in it survives a crash; some platforms cannot, which is ignored. */
async function syncDirectory(dir: string): Promise<void> {
  const handle = await open(dir, 'r').catch(() => undefined);
  if (!handle) return;
  try {
    await handle.sync().catch(() => undefined);
  } finally {
    await handle.close();
  }
}

/** Read buffer size for [start, end]: a small blob (a config, say) gets a buffer its size, not 1 MiB. */
function readChunkSize(start: number, end: number): number {
  return Math.max(1, Math.min(READ_CHUNK_BYTES, end - start + 1));
}

/**
 * Starts writing a file's dirty pages to disk without waiting for it (on a
 * handle of its own, so the request that wrote them need not wait either).
 * At most one such flush runs per file; its failure is ignored, since the
 * fsync of completeUpload decides durability.
 */
const backgroundSyncs = new Set<string>();
function startBackgroundSync(file: string): void {
  if (backgroundSyncs.has(file)) return;
  backgroundSyncs.add(file);
  void (async () => {
    const handle = await open(file, 'r');
    try {
      await handle.datasync();
    } finally {
      await handle.close();
    }
  })()
    .catch(() => undefined)
    .finally(() => backgroundSyncs.delete(file));
}

interface BatchingOptions {
  /** Bytes gathered before each writev. */
  batchBytes: number;
  /** Bytes written between background flushes to disk. */
  syncBytes: number;
  /** The stream's highWaterMark: what it takes in while a batch is written. */
  bufferBytes: number;
  /** Free each chunk's memory once it is written (AppendOptions.releaseChunks), unless onStored takes them. */
  releaseChunks: boolean;
  /** Gets each batch once written (AppendOptions.onStored). */
  onStored: ((chunks: Buffer[]) => Promise<void> | void) | undefined;
}

/**
 * Appends to an open file in batches of at least `batchBytes` (one writev per
 * batch, no copying), starts a background flush to disk after every
 * `syncBytes` written and at the end, hands each written batch to `onStored`
 * (or frees it, with `releaseChunks`), then closes the handle once finished
 * or destroyed.
 * Memory stays bounded: a batch plus the stream's buffer (`bufferBytes`),
 * which keeps filling from the source while a batch is being written.
 */
class BatchingFileWriter extends Writable {
  bytesWritten = 0;
  private batch: Buffer[] = [];
  private batchSize = 0;
  private unsyncedBytes = 0;

  constructor(
    private readonly file: string,
    private readonly handle: FileHandle,
    private readonly options: BatchingOptions,
  ) {
    super({ highWaterMark: options.bufferBytes });
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.add(chunk);
    this.flushIfFull(callback);
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (error?: Error | null) => void): void {
    for (const { chunk } of chunks) this.add(chunk);
    this.flushIfFull(callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.flush().then(() => {
      // The chunk is complete: start flushing its tail now, so the fsync of
      // the PUT that usually follows (small layers: right after one PATCH)
      // finds less to write.
      if (this.unsyncedBytes > 0) startBackgroundSync(this.file);
      callback();
    }, callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.batch = [];
    this.handle.close().then(
      () => callback(error),
      (closeError: Error) => callback(error ?? closeError),
    );
  }

  private add(chunk: Buffer): void {
    this.batch.push(chunk);
    this.batchSize += chunk.length;
  }

  private flushIfFull(callback: (error?: Error | null) => void): void {
    if (this.batchSize < this.options.batchBytes) callback();
    else this.flush().then(() => callback(), callback);
  }

  private async flush(): Promise<void> {
    const written = this.batch;
    let buffers = written;
    this.batch = [];
    this.batchSize = 0;
    // writev may write less than asked (a full disk, a signal): resume after what it wrote.
    while (buffers.length > 0) {
      const { bytesWritten } = await this.handle.writev(buffers);
      this.bytesWritten += bytesWritten;
      this.unsyncedBytes += bytesWritten;
      buffers = skipBytes(buffers, bytesWritten);
    }
    if (this.unsyncedBytes >= this.options.syncBytes) {
      this.unsyncedBytes = 0;
      startBackgroundSync(this.file);
    }
    if (this.options.onStored) {
      if (written.length > 0) await this.options.onStored(written);
    } else if (this.options.releaseChunks) {
      for (const chunk of written) releaseBufferMemory(chunk);
    }
  }
}

/** The buffers left after dropping the first `count` bytes (views, not copies). */
function skipBytes(buffers: Buffer[], count: number): Buffer[] {
  let index = 0;
  while (index < buffers.length && count >= buffers[index]!.length) count -= buffers[index++]!.length;
  const rest = buffers.slice(index);
  if (count > 0 && rest.length > 0) rest[0] = rest[0]!.subarray(count);
  return rest;
}

function isCode(err: unknown, ...codes: string[]): boolean {
  return typeof err === 'object' && err !== null && codes.includes((err as NodeJS.ErrnoException).code ?? '');
}
