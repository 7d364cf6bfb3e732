import type { Dirent } from 'node:fs';
import { mkdir, open, readdir, rmdir, stat, truncate, unlink, type FileHandle } from 'node:fs/promises';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { StorageError, type BlobStore, type UploadParts } from './blob-store';

const DRIVER = 'filesystem';

/**
 * Stores each key as a file under `rootDir` (key segments become directories).
 * An upload is appended in place; it needs no parts state (`parts` stays []).
 * Postgres records a key only after completeUpload, so a file left half-written
 * by a crash is garbage for GC, never a visible blob.
 */
export class FilesystemBlobStore implements BlobStore {
  readonly driverName = DRIVER;
  private readonly root: string;

  constructor(rootDir: string) {
    this.root = path.resolve(rootDir);
  }

  /** Creates the root directory. */
  async init(): Promise<void> {
    await mkdir(this.root, { recursive: true });
  }

  async appendUpload(key: string, offset: number, body: Readable, _parts: UploadParts): Promise<{ parts: UploadParts; size: number }> {
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
    const out = handle.createWriteStream(); // closes the handle when done or failed
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
    const handle = await this.openForAppend(file);
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    // The directory entry must be durable too; some platforms cannot fsync a directory.
    const dir = await open(path.dirname(file), 'r').catch(() => undefined);
    await dir?.sync().catch(() => undefined);
    await dir?.close();
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
    let handle: FileHandle;
    try {
      handle = await open(this.file(key), 'r');
    } catch (err) {
      if (isCode(err, 'ENOENT', 'ENOTDIR', 'EISDIR')) throw new StorageError('NotFound', `${key} not found`, DRIVER, { cause: err });
      throw err;
    }
    // The open handle keeps reading consistent even if the file is deleted meanwhile.
    try {
      const { size } = await handle.stat();
      if (range && range.start >= size) {
        throw new StorageError('InvalidOffset', `range start ${range.start} is past the end of ${key} (${size} bytes)`, DRIVER);
      }
      return handle.createReadStream(range && { start: range.start, end: Math.min(range.end, size - 1) });
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

function isCode(err: unknown, ...codes: string[]): boolean {
  return typeof err === 'object' && err !== null && codes.includes((err as NodeJS.ErrnoException).code ?? '');
}
