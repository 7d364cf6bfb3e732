import { randomUUID } from 'node:crypto';
import { finished, Transform, type Readable, type TransformCallback } from 'node:stream';
import { Digester, OciError, type DigestAlgorithm, type ParsedDigest } from '@berth/oci';
import { blobKey, StorageError, type BlobStore } from '@berth/storage';
import type { BlobRepository } from '../blobs/blob.repository';
import { layerTooLarge, lockedError, storageQuotaExceeded } from '../limits/limit-errors';
import type { Logger } from '../observability/logger';
import type { RegistryMetrics } from '../observability/metrics';
import type { RegistryInfo } from '../registries/registry-info';
import type { RegistryRepository } from '../registries/registry.repository';
import type { RepositoryRepository } from '../repositories/repository.repository';
import type { UploadHashCache } from './upload-hash-cache';
import type { UploadRepository, UploadSession } from './upload.repository';

class LimitExceeded extends Error {}

/** Counts and hashes bytes on their way to storage, stopping at a size limit. */
class UploadMeter extends Transform {
  bytes = 0;
  exceeded = false;

  constructor(
    private readonly digester: Digester,
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
    this.digester.update(chunk);
    callback(null, chunk);
  }
}

export function uploadRangeHeader(offset: number): string {
  // Distribution's convention: "0-0" for an empty upload, else the inclusive end.
  return `0-${Math.max(offset - 1, 0)}`;
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
 */
export class UploadService {
  constructor(
    private readonly uploads: UploadRepository,
    private readonly blobs: BlobRepository,
    private readonly repositories: RepositoryRepository,
    private readonly registries: RegistryRepository,
    private readonly store: BlobStore,
    private readonly hashes: UploadHashCache,
    private readonly metrics: RegistryMetrics,
    private readonly log: Logger,
    private readonly expirySeconds: number,
  ) {}

  /** Opens a session; refuses up front (before any byte is sent) when the repository is locked or the registry is over quota. */
  async start(registry: RegistryInfo, repositoryName: string): Promise<UploadSession> {
    await this.assertWritable(registry, repositoryName);
    const used = await this.registries.storageUsedBytes(registry.id);
    if (used >= registry.sku.includedStorageBytes) throw storageQuotaExceeded(registry, used);
    const id = randomUUID();
    const session: UploadSession = { id, repositoryName, storageKey: blobKey(registry.id, id), offset: 0, parts: [] };
    await this.uploads.create(registry.id, { ...session, expiresAt: this.expiry() });
    return session;
  }

  async find(registry: RegistryInfo, repositoryName: string, uploadId: string): Promise<UploadSession> {
    const session = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(uploadId)
      ? await this.uploads.find(registry.id, repositoryName, uploadId, new Date())
      : undefined;
    if (!session) throw new OciError('BLOB_UPLOAD_UNKNOWN', { detail: { uuid: uploadId } });
    return session;
  }

  /**
   * Appends a chunk at the session's offset and records it. `contentLength`
   * (when known) lets an oversized layer be refused before its bytes flow.
   * Updates `session` in place.
   */
  async append(registry: RegistryInfo, session: UploadSession, body: Readable, contentLength: number | undefined): Promise<void> {
    const maxLayer = registry.sku.maxLayerBytes;
    if (contentLength !== undefined && session.offset + contentLength > maxLayer) {
      await this.discard(registry, session);
      throw layerTooLarge(registry);
    }
    const digester = await this.digesterAt(session, 'sha256');
    const meter = new UploadMeter(digester, maxLayer - session.offset);
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
      result = await this.store.appendUpload(session.storageKey, session.offset, meter, session.parts);
    } catch (error) {
      body.unpipe(meter);
      if (meter.exceeded) {
        await this.discard(registry, session);
        throw layerTooLarge(registry);
      }
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
    const advanced = await this.uploads.advance(registry.id, session.id, session.offset, result.size, result.parts, this.expiry());
    if (!advanced) throw this.rangeInvalid(session); // another request moved the session meanwhile
    session.offset = result.size;
    session.parts = result.parts;
    this.hashes.put(session.id, digester);
  }

  /**
   * Finishes an upload: verifies the digest, then commits blob metadata (or
   * links the registry's existing copy). On a mismatch nothing is left behind.
   */
  async complete(registry: RegistryInfo, session: UploadSession, digest: ParsedDigest): Promise<void> {
    await this.store.completeUpload(session.storageKey, session.parts);
    let digester = this.hashes.take(session.id, session.offset, digest.algorithm);
    if (!digester) {
      digester = await this.rehash(session, digest.algorithm);
      // Bytes a crashed append left past the recorded offset must not become part of the blob.
      const stored = await this.store.stat(session.storageKey);
      if ((stored?.size ?? 0) !== session.offset) {
        await this.discard(registry, session);
        throw new OciError('BLOB_UPLOAD_INVALID', { message: 'stored upload does not match its recorded size; restart the upload' });
      }
    }
    const actual = digester.digest();
    if (actual !== digest.digest) {
      await this.discard(registry, session);
      throw new OciError('DIGEST_INVALID', { detail: { expected: digest.digest, actual } });
    }
    const result = await this.blobs.commitUpload({
      registryId: registry.id,
      repositoryName: session.repositoryName,
      uploadId: session.id,
      digest: digest.digest,
      size: session.offset,
      storageKey: session.storageKey,
      quotaBytes: registry.sku.includedStorageBytes,
    });
    if (result.kind === 'quota-exceeded') {
      await this.discard(registry, session);
      throw storageQuotaExceeded(registry, result.usedBytes, session.offset);
    }
    if (result.kind === 'deduplicated') await this.deleteObject(session.storageKey);
  }

  /** Single request upload (`POST ?digest=`): session, body and completion in one go. */
  async uploadWhole(registry: RegistryInfo, repositoryName: string, digest: ParsedDigest, body: Readable, contentLength: number | undefined): Promise<void> {
    const session = await this.start(registry, repositoryName);
    try {
      await this.append(registry, session, body, contentLength);
      await this.complete(registry, session, digest);
    } catch (error) {
      // A failed single-shot upload cannot be resumed by the client: clean it up.
      await this.discard(registry, session);
      throw error;
    }
  }

  async cancel(registry: RegistryInfo, session: UploadSession): Promise<void> {
    await this.discard(registry, session);
  }

  /** Links `digest` from `fromRepository` when it is there; false means "fall back to an upload". */
  async mount(registry: RegistryInfo, repositoryName: string, fromRepository: string, digest: string): Promise<boolean> {
    await this.assertWritable(registry, repositoryName);
    return (await this.blobs.mount(registry.id, fromRepository, repositoryName, digest)) !== undefined;
  }

  rangeInvalid(session: UploadSession): OciError {
    return new OciError('RANGE_INVALID', {
      message: `chunk does not start at the upload's offset ${session.offset}`,
      headers: {
        Location: `/v2/${session.repositoryName}/blobs/uploads/${session.id}`,
        Range: uploadRangeHeader(session.offset),
        'Docker-Upload-UUID': session.id,
      },
    });
  }

  private async assertWritable(registry: RegistryInfo, repositoryName: string): Promise<void> {
    const flags = await this.repositories.findFlags(registry.id, repositoryName);
    if (flags && !flags.writeEnabled) throw lockedError(`repository ${repositoryName}`, 'writeEnabled');
  }

  /** A digester positioned at the session's offset: from this process's cache, else by reading the stored bytes. */
  private async digesterAt(session: UploadSession, algorithm: DigestAlgorithm): Promise<Digester> {
    return this.hashes.take(session.id, session.offset, algorithm) ?? (await this.rehash(session, algorithm));
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

  /** Removes the session and its bytes (idempotent). */
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

  private expiry(): Date {
    return new Date(Date.now() + this.expirySeconds * 1000);
  }
}
