import { DefaultAzureCredential } from '@azure/identity';
import {
  BlobSASPermissions,
  BlobServiceClient,
  RestError,
  StorageSharedKeyCredential,
  type ContainerClient,
  type StoragePipelineOptions,
  type UserDelegationKey,
} from '@azure/storage-blob';
import type { Readable } from 'node:stream';
import { StorageError, type BlobStore, type UploadParts } from './blob-store';

const DRIVER = 'azure-blob';
/** Largest block staged at once: bounds the memory an append holds, and lets the SDK retry a block from its buffer. */
const BLOCK_SIZE = 8 * 1024 * 1024;
/** Azure's limit of committed blocks per blob (8 MiB blocks: ~390 GiB per upload). */
const MAX_BLOCKS = 50_000;
/** SAS start times are backdated for clock skew between this host and Azure. */
const CLOCK_SKEW_MS = 5 * 60_000;
const HOUR_MS = 3600_000;
/** The service's limit on a user delegation key's lifetime. */
const MAX_DELEGATION_MS = 7 * 24 * HOUR_MS;

export interface AzureBlobStoreOptions {
  /** Connection string (account key or SAS); takes precedence over accountUrl. */
  connectionString?: string;
  /** e.g. https://<account>.blob.core.windows.net, authenticated with DefaultAzureCredential. */
  accountUrl?: string;
  container: string;
  /** SDK pipeline options (retries, timeouts); the SDK's defaults otherwise. */
  pipeline?: StoragePipelineOptions;
}

/** One staged block: the `parts` state the caller persists between appends. */
interface BlockPart {
  id: string;
  size: number;
}

/**
 * Stores each key as a block blob. Every append stages its bytes as blocks of
 * at most 8 MiB and commits the whole block list, so the object is readable
 * between appends; the block ids live in `parts`. Block ids are derived from
 * the block's position, so a retried append overwrites the blocks staged by a
 * failed one, and blocks committed by an append the caller never recorded are
 * dropped by the next commit.
 */
export class AzureBlobStore implements BlobStore {
  readonly driverName = DRIVER;
  private readonly service: BlobServiceClient;
  private readonly container: ContainerClient;
  private readonly usesTokenCredential: boolean;
  private delegationKey?: Promise<UserDelegationKey>;

  constructor(options: AzureBlobStoreOptions) {
    if (options.connectionString) {
      this.service = BlobServiceClient.fromConnectionString(options.connectionString, options.pipeline);
      this.usesTokenCredential = false;
    } else if (options.accountUrl) {
      this.service = new BlobServiceClient(options.accountUrl, new DefaultAzureCredential(), options.pipeline);
      this.usesTokenCredential = true;
    } else {
      throw new Error('AzureBlobStore needs a connection string or an account URL');
    }
    this.container = this.service.getContainerClient(options.container);
  }

  /** Creates the container if it does not exist. */
  async init(): Promise<void> {
    await this.call('create container', this.container.containerName, () => this.container.createIfNotExists());
  }

  async appendUpload(key: string, offset: number, body: Readable, parts: UploadParts): Promise<{ parts: UploadParts; size: number }> {
    const blocks = parseParts(parts);
    let size = blocks.reduce((sum, block) => sum + block.size, 0);
    if (size !== offset) throw new StorageError('InvalidOffset', `offset ${offset} does not match size ${size} of ${key}`, DRIVER);
    const blob = this.container.getBlockBlobClient(key);
    for await (const data of rechunk(body, BLOCK_SIZE)) {
      if (blocks.length >= MAX_BLOCKS) throw new StorageError('Unsupported', `${key} exceeds ${MAX_BLOCKS} blocks`, DRIVER);
      const id = blockId(blocks.length);
      await this.call('stage block of', key, () => blob.stageBlock(id, data, data.length));
      blocks.push({ id, size: data.length });
      size += data.length;
    }
    await this.commit(key, blocks);
    return { parts: blocks, size };
  }

  async completeUpload(key: string, parts: UploadParts): Promise<void> {
    // Appends already committed these blocks; committing again is idempotent and
    // creates the (empty) object when nothing was appended.
    await this.commit(key, parseParts(parts));
  }

  async stat(key: string): Promise<{ size: number } | undefined> {
    try {
      const props = await this.call('stat', key, () => this.container.getBlobClient(key).getProperties());
      return { size: props.contentLength ?? 0 };
    } catch (err) {
      if (err instanceof StorageError && err.code === 'NotFound') return undefined;
      throw err;
    }
  }

  async read(key: string, range?: { start: number; end: number }): Promise<Readable> {
    const blob = this.container.getBlobClient(key);
    const res = await this.call('read', key, () => blob.download(range?.start ?? 0, range && range.end - range.start + 1));
    // The SDK's Node stream resumes an interrupted download with ranged retries.
    const stream = res.readableStreamBody as Readable;
    // A satisfiable range returns at least one byte; Azurite answers an empty 206 where Azure answers 416.
    if (range && res.contentLength === 0) {
      stream.destroy();
      throw new StorageError('InvalidOffset', `range start ${range.start} is past the end of ${key}`, DRIVER);
    }
    return stream;
  }

  async delete(key: string): Promise<void> {
    await this.call('delete', key, () => this.container.getBlobClient(key).deleteIfExists({ deleteSnapshots: 'include' }));
  }

  async *list(prefix: string): AsyncIterable<{ key: string; size: number; lastModified: Date }> {
    // Uncommitted blobs (an upload whose first append failed) are listed too, so GC can delete them.
    const pages = this.container.listBlobsFlat({ prefix: prefix || undefined, includeUncommitedBlobs: true });
    try {
      for await (const item of pages) {
        yield { key: item.name, size: item.properties.contentLength ?? 0, lastModified: item.properties.lastModified };
      }
    } catch (err) {
      throw toStorageError(err, 'list', prefix);
    }
  }

  /**
   * A read-only SAS URL: a service SAS when the connection string carries the
   * account key, a user delegation SAS under DefaultAzureCredential, and
   * undefined when neither can sign (a connection string with a SAS token).
   */
  async signedReadUrl(key: string, ttlSeconds: number): Promise<string | undefined> {
    const blob = this.container.getBlobClient(key);
    const now = Date.now();
    const options = {
      permissions: BlobSASPermissions.parse('r'),
      startsOn: new Date(now - CLOCK_SKEW_MS),
      expiresOn: new Date(now + ttlSeconds * 1000),
    };
    if (this.service.credential instanceof StorageSharedKeyCredential) return blob.generateSasUrl(options);
    if (!this.usesTokenCredential) return undefined;
    const delegationKey = await this.call('sign', key, () => this.userDelegationKey(options.expiresOn));
    return blob.generateUserDelegationSasUrl(options, delegationKey);
  }

  /** A user delegation key valid until at least `until`, shared by URLs signed in the meantime. */
  private async userDelegationKey(until: Date): Promise<UserDelegationKey> {
    const cached = await this.delegationKey?.catch(() => undefined);
    if (cached && cached.signedExpiresOn >= until) return cached;
    const now = Date.now();
    const expiresOn = Math.min(now + MAX_DELEGATION_MS - CLOCK_SKEW_MS, Math.max(until.getTime(), now + HOUR_MS));
    this.delegationKey = this.service.getUserDelegationKey(new Date(now - CLOCK_SKEW_MS), new Date(expiresOn));
    return this.delegationKey;
  }

  private async commit(key: string, blocks: BlockPart[]): Promise<void> {
    const blob = this.container.getBlockBlobClient(key);
    await this.call('commit', key, () => blob.commitBlockList(blocks.map((block) => block.id)));
  }

  private async call<T>(op: string, key: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw toStorageError(err, op, key);
    }
  }
}

/** Maps the SDK's errors to storage error codes; anything else passes through unchanged. */
function toStorageError(err: unknown, op: string, key: string): unknown {
  if (!(err instanceof RestError)) return err;
  const what = `${op} ${key}: ${err.statusCode ?? 'no response'} ${err.code ?? ''}`.trim();
  if (err.statusCode === 404 && err.code !== 'ContainerNotFound') return new StorageError('NotFound', `${key} not found`, DRIVER, { cause: err });
  if (err.statusCode === 416) return new StorageError('InvalidOffset', what, DRIVER, { cause: err });
  return new StorageError('Unavailable', what, DRIVER, { cause: err });
}

/** Block ids must all have the same length within a blob, hence the zero padding. */
function blockId(index: number): string {
  return Buffer.from(`block-${String(index).padStart(6, '0')}`).toString('base64');
}

function parseParts(parts: UploadParts): BlockPart[] {
  return parts.map((part) => {
    const { id, size } = (part ?? {}) as Partial<BlockPart>;
    if (typeof id !== 'string' || !Number.isSafeInteger(size) || size! < 0) {
      throw new StorageError('InvalidOffset', 'malformed upload parts state', DRIVER);
    }
    return { id, size: size! };
  });
}

/** Regroups a stream into buffers of exactly `size` bytes (the last one shorter), holding at most about two blocks. */
async function* rechunk(body: Readable, size: number): AsyncGenerator<Buffer> {
  let pending: Buffer[] = [];
  let length = 0;
  for await (const chunk of body) {
    const data = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
    pending.push(data);
    length += data.length;
    while (length >= size) {
      const all = Buffer.concat(pending, length);
      yield all.subarray(0, size);
      pending = length > size ? [all.subarray(size)] : [];
      length -= size;
    }
  }
  if (length > 0) yield Buffer.concat(pending, length);
}
