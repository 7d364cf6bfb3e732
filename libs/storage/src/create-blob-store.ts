import type { StorageConfig } from '@berth/config';
import type { Readable } from 'node:stream';
import type { AzureBlobStore } from './azure-blob.driver';
import { StorageError, type AppendOptions, type BlobStore, type UploadParts } from './blob-store';
import { FilesystemBlobStore } from './filesystem.driver';

/**
 * Builds the configured driver, creates its root directory or container, and
 * returns it behind the validating wrapper.
 */
export async function createBlobStore(config: StorageConfig): Promise<BlobStore> {
  let driver: FilesystemBlobStore | AzureBlobStore;
  switch (config.driver) {
    case 'filesystem':
      driver = new FilesystemBlobStore(config.path);
      break;
    case 'azure': {
      // Loaded only when configured: the Azure SDK is ~12 MiB of heap that a
      // filesystem-backed data plane would otherwise carry (and mark on every major GC).
      const { AzureBlobStore } = await import('./azure-blob.driver');
      driver = new AzureBlobStore({ connectionString: config.connectionString, accountUrl: config.accountUrl, container: config.container });
      break;
    }
    default: {
      const unknown: never = config;
      throw new Error(`unknown storage driver ${(unknown as StorageConfig).driver}`);
    }
  }
  const store = new ValidatingBlobStore(driver);
  await store.guard('init', '', () => driver.init());
  return store;
}

const SEGMENT = /^[A-Za-z0-9._-]{1,255}$/;
const MAX_KEY_LENGTH = 1024;
const MAX_SIGNED_URL_TTL = 7 * 24 * 3600;

function isValidSegment(segment: string): boolean {
  return SEGMENT.test(segment) && segment !== '.' && segment !== '..';
}

/** A key is relative, '/'-separated segments of [A-Za-z0-9._-], none empty, '.' or '..'. */
export function isValidBlobKey(key: string): boolean {
  return key.length > 0 && key.length <= MAX_KEY_LENGTH && key.split('/').every(isValidSegment);
}

/** A list prefix is '' or a valid key, optionally ending with '/'. */
export function isValidBlobPrefix(prefix: string): boolean {
  return prefix === '' || isValidBlobKey(prefix.endsWith('/') ? prefix.slice(0, -1) : prefix);
}

/**
 * Guards a driver: rejects malformed keys, offsets and ranges before they reach
 * it (StorageError 'InvalidKey' / 'InvalidOffset'), and wraps any error that is
 * not already a StorageError as 'Unavailable', tagged with the driver's name and
 * keeping the original as `cause`. Errors emitted later by a returned read
 * stream are the driver's own.
 */
export class ValidatingBlobStore implements BlobStore {
  readonly driverName: string;
  readonly reportsStoredChunks?: boolean;
  readonly signedReadUrl?: (key: string, ttlSeconds: number) => Promise<string | undefined>;
  readonly copyTo?: BlobStore['copyTo'];

  constructor(private readonly inner: BlobStore) {
    this.driverName = inner.driverName;
    this.reportsStoredChunks = inner.reportsStoredChunks;
    const copy = inner.copyTo?.bind(inner);
    if (copy) {
      this.copyTo = (key, range, out, ready, onBytes) =>
        this.guard('read', key, () => {
          this.checkRead(key, range);
          return copy(key, range, out, ready, onBytes);
        });
    }
    const sign = inner.signedReadUrl?.bind(inner);
    if (sign) {
      this.signedReadUrl = (key, ttlSeconds) =>
        this.guard('sign', key, () => {
          this.checkKey(key);
          if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > MAX_SIGNED_URL_TTL) {
            throw new StorageError('Unsupported', `ttlSeconds must be between 1 and ${MAX_SIGNED_URL_TTL}`, this.driverName);
          }
          return sign(key, ttlSeconds);
        });
    }
  }

  appendUpload(key: string, offset: number, body: Readable, parts: UploadParts, options?: AppendOptions): Promise<{ parts: UploadParts; size: number }> {
    return this.guard('append to', key, () => {
      this.checkKey(key);
      if (!Number.isSafeInteger(offset) || offset < 0) throw this.invalidOffset(`invalid offset ${offset}`);
      if (!Array.isArray(parts)) throw this.invalidOffset('malformed upload parts state');
      return this.inner.appendUpload(key, offset, body, parts, options);
    });
  }

  completeUpload(key: string, parts: UploadParts): Promise<void> {
    return this.guard('complete', key, () => {
      this.checkKey(key);
      if (!Array.isArray(parts)) throw this.invalidOffset('malformed upload parts state');
      return this.inner.completeUpload(key, parts);
    });
  }

  stat(key: string): Promise<{ size: number } | undefined> {
    return this.guard('stat', key, () => {
      this.checkKey(key);
      return this.inner.stat(key);
    });
  }

  read(key: string, range?: { start: number; end: number }): Promise<Readable> {
    return this.guard('read', key, () => {
      this.checkRead(key, range);
      return this.inner.read(key, range);
    });
  }

  private checkRead(key: string, range: { start: number; end: number } | undefined): void {
    this.checkKey(key);
    if (range && !(Number.isSafeInteger(range.start) && Number.isSafeInteger(range.end) && range.start >= 0 && range.end >= range.start)) {
      throw this.invalidOffset(`invalid range ${range.start}-${range.end}`);
    }
  }

  delete(key: string): Promise<void> {
    return this.guard('delete', key, () => {
      this.checkKey(key);
      return this.inner.delete(key);
    });
  }

  async *list(prefix: string): AsyncIterable<{ key: string; size: number; lastModified: Date }> {
    if (!isValidBlobPrefix(prefix)) throw new StorageError('InvalidKey', `invalid prefix "${prefix}"`, this.driverName);
    try {
      yield* this.inner.list(prefix);
    } catch (err) {
      throw this.wrap(err, 'list', prefix);
    }
  }

  /** Runs `fn`, turning foreign errors into StorageErrors (also used for the driver's init). */
  async guard<T>(op: string, key: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw this.wrap(err, op, key);
    }
  }

  private wrap(err: unknown, op: string, key: string): StorageError {
    if (err instanceof StorageError) return err;
    const reason = err instanceof Error ? err.message : String(err);
    return new StorageError('Unavailable', `${op} ${key} failed: ${reason}`, this.driverName, { cause: err });
  }

  private checkKey(key: string): void {
    if (typeof key !== 'string' || !isValidBlobKey(key)) throw new StorageError('InvalidKey', `invalid key "${key}"`, this.driverName);
  }

  private invalidOffset(message: string): StorageError {
    return new StorageError('InvalidOffset', message, this.driverName);
  }
}
