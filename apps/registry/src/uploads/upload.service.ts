import { randomUUID } from 'node:crypto';
import { finished, Transform, type Readable, type TransformCallback } from 'node:stream';
import { SqlUnavailableError, type SqlClient } from '@berth/db/plain';
import { Digester, OciError, type DigestAlgorithm, type ParsedDigest } from '@berth/oci';
import { blobKey, releaseBufferMemory, StorageError, type BlobStore } from '@berth/storage';
import type { BlobRepository } from '../blobs/blob.repository';
import { layerTooLarge, lockedError, storageQuotaExceeded } from '../limits/limit-errors';
import type { Logger } from '../observability/logger';
import type { RegistryMetrics } from '../observability/metrics';
import type { RegistryInfo } from '../registries/registry-info';
import type { RepositoryRepository } from '../repositories/repository.repository';
import type { HashOffload, RunningDigest } from './hash-offload';
import type { UploadHashCache } from './upload-hash-cache';
import type { UploadRepository, UploadSession } from './upload.repository';

class LimitExceeded extends Error {}

/**
 * Counts bytes on their way to storage, stopping at a size limit, and hashes
 * them unless the store hands them to the digest once stored (`digester`
 * undefined: see hashStored).
 */
class UploadMeter extends Transform {
  bytes = 0;
  exceeded = false;

  constructor(
    private readonly digester: RunningDigest | undefined,
    private readonly limit: number,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.limit) {
      this.exceeded = true;
      callback(new LimitExceeded('layer size limit exceeded'));
      return;
    }
    if (!this.digester) {
      callback(null, chunk);
      return;
    }
    const wait = this.digester.update(chunk);
    // The hashing thread is behind: hold this chunk (and so the request) until it catches up.
    if (wait instanceof Promise) wait.then(() => callback(null, chunk), callback);
    else callback(null, chunk);
  }
}

/**
 * A chunk of a PATCH or PUT. `body` is called only once the session is
 * locked and the checks passed, so a client waiting on `Expect: 100-continue`
 * sends nothing for a refused chunk.
 */
export interface UploadChunk {
  body: () => Readable;
  contentLength: number | undefined;
  /** Content-Range as sent: parsed, 'invalid' when malformed, undefined when absent. */
  range: { start: number; end: number } | 'invalid' | undefined;
}

/**
 * The outcome of work on a locked session that removed the session: its row
 * is deleted in the transaction, its object after the commit, then `error`
 * (if any) is thrown to the client.
 */
class Discarded {
  constructor(
    readonly storageKey: string,
    readonly error: OciError | undefined,
  ) {}
}

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function uploadRangeHeader(offset: number): string {
  // Distribution's convention: "0-0" for an empty upload, else the inclusive end.
  return `0-${Math.max(offset - 1, 0)}`;
}

/** Location, Range and Docker-Upload-UUID of a session, for 202/204 answers and 416 errors. */
export function sessionHeaders(session: UploadSession): Record<string, string> {
  return {
    Location: `/v2/${session.repositoryName}/blobs/uploads/${session.id}`,
    Range: uploadRangeHeader(session.offset),
    'Docker-Upload-UUID': session.id,
  };
}

/**
 * Blob uploads: sessions, appends (chunked or streamed), completion with
 * digest verification, cancellation and cross-repository mounts.
 *
 * The object at blobKey(registryId, uploadId) becomes the blob itself once
 * its digest is verified and its metadata committed, so nothing is copied.
 * Digests are computed while bytes stream through; a process that did not
 * see the earlier chunks (restart, another replica) re-hashes the stored
 * prefix first.
 *
 * PATCH, PUT and DELETE of a session run with its row locked for the whole
 * request (UploadRepository.withLockedSession), so they never overlap, on
 * any replica; completion commits the blob in that same transaction.
 */
export class UploadService {
  constructor(
    private readonly uploads: UploadRepository,
    private readonly blobs: BlobRepository,
    private readonly repositories: RepositoryRepository,
    private readonly store: BlobStore,
    private readonly hashes: UploadHashCache,
    private readonly offload: HashOffload,
    private readonly metrics: RegistryMetrics,
    private readonly log: Logger,
  ) {}

  /** Opens a session; refuses up front (before any byte is sent) when the repository is locked or the registry is over quota. */
  async start(registry: RegistryInfo, repositoryName: string): Promise<UploadSession> {
    const id = randomUUID();
    const session: UploadSession = { id, repositoryName, storageKey: blobKey(registry.id, id), offset: 0, parts: [] };
    const started = await this.uploads.create(registry.id, session, registry.sku.includedStorageBytes);
    switch (started.kind) {
      case 'created':
        return session;
      case 'locked':
        throw lockedError(`repository ${repositoryName}`, 'writeEnabled');
      case 'over-quota':
        throw storageQuotaExceeded(registry, started.usedBytes);
      case 'not-serving':
        throw new OciError('NAME_UNKNOWN', { message: 'this registry is being deleted' });
    }
  }

  /** The session's state (status requests); BLOB_UPLOAD_UNKNOWN when unknown or expired. */
  async status(registry: RegistryInfo, repositoryName: string, uploadId: string): Promise<UploadSession> {
    const session = UUID_PATTERN.test(uploadId) ? await this.uploads.find(registry.id, repositoryName, uploadId) : undefined;
    if (!session) throw new OciError('BLOB_UPLOAD_UNKNOWN', { detail: { uuid: uploadId } });
    return session;
  }

  /** Appends a chunk (PATCH); returns the session at its new offset. */
  async patch(registry: RegistryInfo, repositoryName: string, uploadId: string, chunk: UploadChunk | undefined): Promise<UploadSession> {
    const appended = async (tx: SqlClient, session: UploadSession) => {
      if (chunk) {
        const discarded = await this.append(tx, registry, session, chunk, false);
        if (discarded) return discarded;
      }
      return session;
    };
    return this.locked(registry, repositoryName, uploadId, appended, false);
  }

  /**
   * Finishes an upload (PUT), after appending its last chunk when sent:
   * verifies the digest, then commits blob metadata (or links the registry's
   * existing copy). On a mismatch nothing is left behind.
   */
  async complete(registry: RegistryInfo, repositoryName: string, uploadId: string, digest: ParsedDigest, chunk: UploadChunk | undefined): Promise<void> {
    const committed = await this.locked(registry, repositoryName, uploadId, async (tx, session) => {
      if (chunk) {
        const discarded = await this.append(tx, registry, session, chunk, true);
        if (discarded) return discarded;
      }
      const cached = this.hashes.take(session.id, session.offset, digest.algorithm);
      // The flush to durable storage (an fsync of the tail, or the block list
      // commit) runs while the digest is checked and the blob's own rows are
      // written; the registry's usage row is locked only after it (see
      // BlobRepository.commitUpload), and the transaction commits only after
      // it (see `durably`).
      const flush = this.store.completeUpload(session.storageKey, session.parts);
      return this.durably(flush, async () => {
        let actual = cached ? await settledDigest(cached) : undefined;
        if (actual === undefined) {
          // Not hashed by this process (restart, another replica) or its hashing thread failed: read the bytes back.
          await flush;
          const digester = await this.rehash(session, digest.algorithm);
          // Bytes a crashed append left past the recorded offset must not become part of the blob.
          const stored = await this.store.stat(session.storageKey);
          if ((stored?.size ?? 0) !== session.offset) {
            return this.discardLocked(tx, registry, session, new OciError('BLOB_UPLOAD_INVALID', { message: 'stored upload does not match its recorded size; restart the upload' }));
          }
          actual = digester.digest();
        }
        return this.commitVerified(tx, registry, session, digest, actual, flush);
      });
    });
    // After the commit: the registry's existing copy is the blob, these bytes are spare.
    if (committed.deduplicated) await this.deleteObject(committed.storageKey);
  }

  /** Checks the digest of the complete upload (`actual`) and records the blob in the locked session's transaction. */
  private async commitVerified(
    tx: SqlClient,
    registry: RegistryInfo,
    session: UploadSession,
    digest: ParsedDigest,
    actual: string,
    flush: Promise<void>,
  ): Promise<{ deduplicated: boolean; storageKey: string } | Discarded> {
    if (actual !== digest.digest) {
      return this.discardLocked(tx, registry, session, new OciError('DIGEST_INVALID', { detail: { expected: digest.digest, actual } }));
    }
    const result = await this.blobs.commitUpload(tx, {
      registryId: registry.id,
      repositoryName: session.repositoryName,
      uploadId: session.id,
      digest: digest.digest,
      size: session.offset,
      storageKey: session.storageKey,
      quotaBytes: registry.sku.includedStorageBytes,
    }, flush);
    if (result.kind === 'quota-exceeded') {
      return this.discardLocked(tx, registry, session, storageQuotaExceeded(registry, result.usedBytes, session.offset));
    }
    return { deduplicated: result.kind === 'deduplicated', storageKey: session.storageKey };
  }

  /**
   * Runs `work` while `flush` is in flight and settles only after both: the
   * caller's transaction never commits metadata for bytes that are not yet
   * durable, and an object is never deleted while its flush still runs.
   */
  private async durably<T>(flush: Promise<void>, work: () => Promise<T>): Promise<T> {
    // A flush that fails while `work` has not reached it yet is still seen (awaited below), not an unhandled rejection.
    flush.catch(() => undefined);
    let value: T;
    try {
      value = await work();
    } catch (error) {
      await flush.catch(() => undefined);
      throw error;
    }
    await flush;
    return value;
  }

  /** Single request upload (`POST ?digest=`): session, body and completion in one go. */
  async uploadWhole(registry: RegistryInfo, repositoryName: string, digest: ParsedDigest, body: () => Readable, contentLength: number | undefined): Promise<void> {
    const session = await this.start(registry, repositoryName);
    try {
      await this.complete(registry, repositoryName, session.id, digest, { body, contentLength, range: undefined });
    } catch (error) {
      // A failed single-shot upload cannot be resumed by the client: clean it up.
      await this.discard(registry, session);
      throw error;
    }
  }

  async cancel(registry: RegistryInfo, repositoryName: string, uploadId: string): Promise<void> {
    await this.locked<void>(registry, repositoryName, uploadId, async (tx, session) => this.discardLocked(tx, registry, session, undefined));
  }

  /** Links `digest` from `fromRepository` when it is there; false means "fall back to an upload". */
  async mount(registry: RegistryInfo, repositoryName: string, fromRepository: string, digest: string): Promise<boolean> {
    await this.assertWritable(registry, repositoryName);
    return (await this.blobs.mount(registry.id, fromRepository, repositoryName, digest)) !== undefined;
  }

  private rangeInvalid(session: UploadSession): OciError {
    return new OciError('RANGE_INVALID', {
      message: `chunk does not start at the upload's offset ${session.offset}`,
      headers: sessionHeaders(session),
    });
  }

  /**
   * Runs `work` with the session locked; BLOB_UPLOAD_UNKNOWN when it does
   * not exist or expired. A `Discarded` outcome commits the session's
   * removal, then deletes its object and throws its error. `durable: false`
   * only for progress (PATCH): see UploadRepository.withLockedSession.
   */
  private async locked<T>(
    registry: RegistryInfo,
    repositoryName: string,
    uploadId: string,
    work: (tx: SqlClient, session: UploadSession) => Promise<T | Discarded>,
    durable = true,
  ): Promise<T> {
    let outcome: { value: T | Discarded } | undefined;
    try {
      outcome = UUID_PATTERN.test(uploadId) ? await this.uploads.withLockedSession(registry.id, repositoryName, uploadId, work, durable) : undefined;
    } catch (error) {
      if (error instanceof SqlUnavailableError) {
        const message = error.reason === 'no-connection' ? 'too many uploads in progress, retry later' : 'the chunk took too long; resume the upload';
        throw new OciError('UNAVAILABLE', { message, headers: { 'Retry-After': '5' } });
      }
      throw error;
    }
    if (!outcome) throw new OciError('BLOB_UPLOAD_UNKNOWN', { detail: { uuid: uploadId } });
    const value = outcome.value;
    if (value instanceof Discarded) {
      await this.deleteObject(value.storageKey);
      if (value.error) throw value.error;
      return undefined as T;
    }
    return value;
  }

  /**
   * Appends a chunk at the locked session's offset (updates `session` in
   * place) and records the new offset in the session row unless `final`: a
   * completion deletes the row in the same transaction whatever its outcome.
   * `contentLength` (when known) lets an oversized layer be refused before
   * its bytes flow.
   */
  private async append(tx: SqlClient, registry: RegistryInfo, session: UploadSession, chunk: UploadChunk, final: boolean): Promise<Discarded | undefined> {
    const { contentLength, range } = chunk;
    if (range !== undefined) {
      if (range === 'invalid' || range.start !== session.offset) throw this.rangeInvalid(session);
      if (contentLength !== undefined && contentLength !== range.end - range.start + 1) {
        throw new OciError('RANGE_INVALID', { message: 'Content-Range and Content-Length disagree', headers: sessionHeaders(session) });
      }
    }
    if (contentLength === 0) return undefined;
    const maxLayer = registry.sku.maxLayerBytes;
    if (contentLength !== undefined && session.offset + contentLength > maxLayer) {
      return this.discardLocked(tx, registry, session, layerTooLarge(registry));
    }
    const digester = await this.digesterAt(session, 'sha256');
    let kept = false;
    try {
      const discarded = await this.appendHashed(tx, registry, session, chunk, digester, final);
      if (!discarded) {
        this.hashes.put(session.id, digester);
        kept = true;
      }
      return discarded;
    } finally {
      if (!kept) digester.dispose?.();
    }
  }

  /** `append` once the session's running digest is at hand. */
  private async appendHashed(
    tx: SqlClient,
    registry: RegistryInfo,
    session: UploadSession,
    chunk: UploadChunk,
    digester: RunningDigest,
    final: boolean,
  ): Promise<Discarded | undefined> {
    const maxLayer = registry.sku.maxLayerBytes;
    const body = chunk.body();
    // A store that reports what it stored feeds the digest after each write,
    // handing it the request's own chunks (no copy into hashing batches).
    const afterStore = this.store.reportsStoredChunks === true;
    const meter = new UploadMeter(afterStore ? undefined : digester, maxLayer - session.offset);
    // The meter can fail before the driver starts reading it; the failure is
    // observed through appendUpload's rejection (and meter.exceeded).
    meter.on('error', () => undefined);
    // pipe (not pipeline): a failure must not destroy the request, so the
    // client still receives the error response.
    finished(body, (error) => {
      if (error) meter.destroy(error);
    });
    body.on('aborted', () => meter.destroy(new Error('client aborted the upload')));
    body.pipe(meter);
    let result: { parts: unknown[]; size: number };
    try {
      // The request's chunks are read once, by the meter then the store (then the digest): each may be freed once stored and hashed.
      result = await this.store.appendUpload(session.storageKey, session.offset, meter, session.parts, {
        releaseChunks: true,
        onStored: afterStore ? (chunks) => hashStored(digester, chunks) : undefined,
      });
    } catch (error) {
      body.unpipe(meter);
      if (meter.exceeded) return this.discardLocked(tx, registry, session, layerTooLarge(registry));
      if (error instanceof StorageError && error.code === 'InvalidOffset') throw this.rangeInvalid(session);
      if (!body.readableEnded && body.destroyed) {
        // The client went away mid-chunk; the driver rolled the append back and the session stays usable.
        throw new OciError('BLOB_UPLOAD_INVALID', { message: 'the upload was interrupted; resume at the last acknowledged offset' });
      }
      throw error;
    }
    this.metrics.bytesPushed.inc(meter.bytes);
    if (result.size !== session.offset + meter.bytes) {
      this.log.warn({ uploadId: session.id, expected: session.offset + meter.bytes, actual: result.size }, 'upload size disagrees with the bytes sent');
      throw this.rangeInvalid(session);
    }
    if (!final && !(await this.uploads.advance(tx, registry.id, session.id, session.offset, result.size, result.parts))) {
      throw this.rangeInvalid(session); // unreachable while the row is locked; kept as a guard
    }
    session.offset = result.size;
    session.parts = result.parts;
    return undefined;
  }

  private async assertWritable(registry: RegistryInfo, repositoryName: string): Promise<void> {
    const flags = await this.repositories.findFlags(registry.id, repositoryName);
    if (flags && !flags.writeEnabled) throw lockedError(`repository ${repositoryName}`, 'writeEnabled');
  }

  /**
   * A digest positioned at the session's offset: from this process's cache,
   * a new one for a new upload (HashOffload decides where it runs), else by
   * reading the stored bytes (on this thread: restarts and replica changes
   * are rare).
   */
  private async digesterAt(session: UploadSession, algorithm: DigestAlgorithm): Promise<RunningDigest> {
    const cached = this.hashes.take(session.id, session.offset, algorithm);
    if (cached) return cached;
    return session.offset === 0 ? this.offload.start(algorithm) : this.rehash(session, algorithm);
  }

  private async rehash(session: UploadSession, algorithm: DigestAlgorithm): Promise<Digester> {
    const digester = Digester.create(algorithm);
    if (session.offset === 0) return digester;
    const stream = await this.store.read(session.storageKey, { start: 0, end: session.offset - 1 });
    for await (const chunk of stream) digester.update(chunk as Buffer);
    if (digester.size !== session.offset) {
      throw new OciError('BLOB_UPLOAD_INVALID', { message: 'stored upload is shorter than its recorded size; restart the upload' });
    }
    return digester;
  }

  /** Removes a locked session's row in its transaction; the object goes after the commit (see `locked`). */
  private async discardLocked(tx: SqlClient, registry: RegistryInfo, session: UploadSession, error: OciError | undefined): Promise<Discarded> {
    this.hashes.drop(session.id);
    await this.uploads.delete(registry.id, session.id, tx);
    return new Discarded(session.storageKey, error);
  }

  /** Removes a session nobody holds, and its bytes (idempotent). */
  private async discard(registry: RegistryInfo, session: UploadSession): Promise<void> {
    this.hashes.drop(session.id);
    await this.uploads.delete(registry.id, session.id);
    await this.deleteObject(session.storageKey);
  }

  private async deleteObject(key: string): Promise<void> {
    try {
      await this.store.delete(key);
    } catch (error) {
      // Unreferenced bytes are garbage collection's to reclaim; the request itself succeeded.
      this.log.warn({ err: error, key }, 'could not delete upload object');
    }
  }
}

/**
 * Hashes request chunks that are stored and read by nothing else: handed
 * over to the hashing thread when the digest runs there, else hashed here
 * and freed (releaseBufferMemory).
 */
function hashStored(digester: RunningDigest, chunks: Buffer[]): Promise<void> | undefined {
  if (digester.updateOwned) return digester.updateOwned(chunks);
  let wait: Promise<void> | undefined;
  for (const chunk of chunks) {
    const pending = digester.update(chunk);
    if (pending instanceof Promise) wait = pending;
    releaseBufferMemory(chunk);
  }
  return wait;
}

/** The digest a running digest computed, or undefined when its hashing thread failed (the caller re-hashes). */
async function settledDigest(digester: RunningDigest): Promise<string | undefined> {
  try {
    return await digester.digest();
  } catch {
    return undefined;
  } finally {
    digester.dispose?.();
  }
}
