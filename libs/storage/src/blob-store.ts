import type { Readable, Writable } from 'node:stream';

/** How `appendUpload` may treat the body it reads. */
export interface AppendOptions {
  /**
   * The body's chunks are the driver's once read: nothing else reads them
   * again, so a driver may free their memory as soon as they are stored
   * (see releaseBufferMemory). Only for a body whose every chunk is a buffer
   * of its own, such as an HTTP request's; never for one that yields the
   * same buffer twice or buffers the caller still uses.
   */
  releaseChunks?: boolean;
  /**
   * Receives the body's bytes once they are stored, in order (a batch of
   * chunks each time a write completes), before appendUpload resolves: the
   * place to hash them without a copy (the upload digest). With
   * releaseChunks the chunks become the callback's: the driver no longer
   * frees them, the callback does. A returned promise holds the next write
   * back (backpressure). Only drivers with `reportsStoredChunks` call it.
   */
  onStored?: (chunks: Buffer[]) => Promise<void> | void;
}

/**
 * The storage layout, in one place. Storage holds only bytes; PostgreSQL maps
 * digests to keys, so a finished upload is never moved or copied:
 *
 *   registries/<registryId>/blobs/<uploadId>   one object per upload; after the final
 *                                              PUT it *is* the blob (Blob.storageKey)
 *
 * Keys are relative, '/'-separated, made of [A-Za-z0-9._-] segments; the
 * validating wrapper (createBlobStore) rejects anything else, including '..'.
 *
 * Uploads: each PATCH appends one part. The filesystem driver appends to the
 * file; the Azure driver stages one block per part and commits the block list,
 * so the object is readable (e.g. to re-hash after a restart) between chunks.
 * `parts` is driver-specific state the caller persists (Upload.parts) and
 * hands back on the next call, which makes uploads continue on any replica.
 */
export interface BlobStore {
  readonly driverName: string;
  /** appendUpload calls AppendOptions.onStored with every byte it stores. */
  readonly reportsStoredChunks?: boolean;

  /**
   * Appends `body` at `offset` of the upload object at `key`. Fails with
   * StorageError('InvalidOffset') when `offset` is not the current size.
   * Returns the new parts state and the upload's new size. An append that
   * fails leaves the upload as it was, so the caller may retry it at the same
   * offset with the same parts. The caller serialises appends to one key.
   */
  appendUpload(key: string, offset: number, body: Readable, parts: UploadParts, options?: AppendOptions): Promise<{ parts: UploadParts; size: number }>;

  /**
   * Makes the upload durable and readable as a whole (called once, on the final
   * PUT; calling it again is harmless). With no appended bytes the object is empty.
   */
  completeUpload(key: string, parts: UploadParts): Promise<void>;

  /** Size of the object, or undefined when it does not exist. */
  stat(key: string): Promise<{ size: number } | undefined>;

  /**
   * Streams the object, or an inclusive byte range of it. StorageError('NotFound')
   * if absent. An `end` past the last byte is clamped to it; a `start` past the
   * last byte fails with StorageError('InvalidOffset').
   */
  read(key: string, range?: { start: number; end: number }): Promise<Readable>;

  /**
   * Writes the object, or an inclusive byte range of it (clamped as in read),
   * into `out` without ending it, through a couple of buffers reused for the
   * whole copy: no allocation per chunk, so a large download creates no
   * garbage for the collector (drivers that can; callers fall back to read).
   * `ready` runs once the object is open, before the first byte is written
   * (the place to send headers); NotFound/InvalidOffset fail before it runs.
   * `onBytes` counts bytes as they are handed to `out`. Rejects when `out`
   * fails or closes early.
   */
  copyTo?(key: string, range: { start: number; end: number } | undefined, out: Writable, ready: () => void, onBytes?: (bytes: number) => void): Promise<void>;

  /** Deletes the object (and any staged data); deleting a missing object is not an error. */
  delete(key: string): Promise<void>;

  /**
   * Every object under a prefix (a plain string prefix of keys, '' for all), for
   * garbage collection and purges. Includes unfinished uploads.
   */
  list(prefix: string): AsyncIterable<{ key: string; size: number; lastModified: Date }>;

  /** A short-lived read-only URL for the object, when the driver can offload downloads. */
  signedReadUrl?(key: string, ttlSeconds: number): Promise<string | undefined>;
}

/** Driver-specific, JSON-serialisable state of an upload's parts. */
export type UploadParts = unknown[];

export type StorageErrorCode = 'NotFound' | 'InvalidOffset' | 'InvalidKey' | 'Unsupported' | 'Unavailable';

export class StorageError extends Error {
  constructor(
    readonly code: StorageErrorCode,
    message: string,
    readonly driver: string,
    options?: { cause?: unknown },
  ) {
    super(`${driver}: ${message}`, options);
    this.name = 'StorageError';
  }
}

export function blobKey(registryId: string, uploadId: string): string {
  return `registries/${registryId}/blobs/${uploadId}`;
}

export function registryPrefix(registryId: string): string {
  return `registries/${registryId}/`;
}
