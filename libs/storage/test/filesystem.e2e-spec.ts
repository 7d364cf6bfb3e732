import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { createBlobStore, FilesystemBlobStore } from '../src';
import { describeBlobStoreConformance } from '../src/testing/blob-store-conformance';

describeBlobStoreConformance('filesystem', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'berth-fs-store-'));
  const root = path.join(dir, 'storage'); // created by createBlobStore
  const store = await createBlobStore({ driver: 'filesystem', path: root });
  return {
    store,
    cleanup: () => rm(dir, { recursive: true, force: true }),
    // Files and directories alike: deletes must prune the directories they emptied.
    leftovers: async () => readdir(root, { recursive: true }),
  };
});

describe('FilesystemBlobStore without the wrapper', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'berth-fs-raw-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('still refuses keys that would escape its root', async () => {
    const store = new FilesystemBlobStore(path.join(dir, 'root'));
    await store.init();
    await expect(store.appendUpload('../escape', 0, Readable.from([Buffer.from('x')]), [])).rejects.toMatchObject({ code: 'InvalidKey' });
    await expect(store.stat('a/../../escape')).rejects.toMatchObject({ code: 'InvalidKey' });
    expect(await readdir(dir)).toEqual(['root']);
  });
});

describe('FilesystemBlobStore appends with releaseChunks', () => {
  let dir: string;
  let store: FilesystemBlobStore;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'berth-fs-release-'));
    store = new FilesystemBlobStore(path.join(dir, 'root'));
    await store.init();
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  /** 40 chunks of 64 KiB (2.5 MiB, so several write batches), each a buffer of its own, plus a copy of all their bytes. */
  function chunks(): { chunks: Buffer[]; bytes: Buffer } {
    const list = Array.from({ length: 40 }, () => {
      const chunk = Buffer.allocUnsafeSlow(64 * 1024);
      randomBytes(chunk.length).copy(chunk);
      return chunk;
    });
    return { chunks: list, bytes: Buffer.concat(list) };
  }

  async function stored(key: string): Promise<Buffer> {
    const parts: Buffer[] = [];
    for await (const part of await store.read(key)) parts.push(part as Buffer);
    return Buffer.concat(parts);
  }

  it('stores every byte, then frees the chunks it was given', async () => {
    const { chunks: list, bytes } = chunks();
    const result = await store.appendUpload('uploads/released', 0, Readable.from(list), [], { releaseChunks: true });
    expect(result.size).toBe(bytes.length);
    expect((await stored('uploads/released')).equals(bytes)).toBe(true);
    expect(list.every((chunk) => chunk.length === 0)).toBe(true);
  });

  it('keeps the chunks intact without the option', async () => {
    const { chunks: list, bytes } = chunks();
    await store.appendUpload('uploads/kept', 0, Readable.from(list), []);
    expect((await stored('uploads/kept')).equals(bytes)).toBe(true);
    expect(Buffer.concat(list).equals(bytes)).toBe(true);
  });

  it('hands every stored byte to onStored in order, leaves freeing the chunks to it, and waits for it between writes', async () => {
    const { chunks: list, bytes } = chunks();
    expect(store.reportsStoredChunks).toBe(true);
    const seen: Buffer[] = [];
    let calls = 0;
    let inCallback = false;
    const result = await store.appendUpload('uploads/reported', 0, Readable.from(list), [], {
      releaseChunks: true,
      onStored: async (stored) => {
        expect(inCallback).toBe(false); // the next write waits for the promise
        inCallback = true;
        calls += 1;
        // Already on disk when reported.
        const onDisk = (await readFile(path.join(dir, 'root', 'uploads', 'reported'))).length;
        expect(onDisk).toBeGreaterThanOrEqual(seen.reduce((sum, chunk) => sum + chunk.length, 0) + stored.reduce((sum, chunk) => sum + chunk.length, 0));
        seen.push(...stored.map((chunk) => Buffer.from(chunk)));
        await new Promise((resolve) => setTimeout(resolve, 5));
        inCallback = false;
      },
    });
    expect(result.size).toBe(bytes.length);
    expect(calls).toBeGreaterThan(1); // 2.5 MiB: more than one write batch
    expect(Buffer.concat(seen).equals(bytes)).toBe(true);
    expect((await stored('uploads/reported')).equals(bytes)).toBe(true);
    // The callback owns the chunks: the driver did not free them.
    expect(Buffer.concat(list).equals(bytes)).toBe(true);
  });

  it('never frees a slice of memory it does not own, such as a view of a caller\'s buffer', async () => {
    const whole = randomBytes(3 * 1024 * 1024);
    const copy = Buffer.from(whole);
    const views = [whole.subarray(0, 1024 * 1024), whole.subarray(1024 * 1024)];
    await store.appendUpload('uploads/views', 0, Readable.from(views), [], { releaseChunks: true });
    expect((await stored('uploads/views')).equals(copy)).toBe(true);
    expect(whole.equals(copy)).toBe(true);
  });
});
