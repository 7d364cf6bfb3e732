import { createHash, randomBytes, type Hash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { blobKey, StorageError, type BlobStore, type StorageErrorCode, type UploadParts } from '../blob-store';

export interface ConformanceContext {
  store: BlobStore;
  cleanup(): Promise<void>;
  /** What the backend still holds, inspected directly rather than through the store (optional). */
  leftovers?(): Promise<string[]>;
}

const MiB = 1024 * 1024;

/**
 * The one test suite every BlobStore driver must pass. Call it from a spec
 * file with a factory that returns a fresh, empty store (behind the validating
 * wrapper) and a cleanup. The last test fails when the driver left anything
 * behind after every object was deleted.
 */
export function describeBlobStoreConformance(name: string, factory: () => Promise<ConformanceContext>): void {
  describe(`BlobStore conformance: ${name}`, () => {
    let ctx: ConformanceContext;
    let store: BlobStore;
    beforeAll(async () => {
      ctx = await factory();
      store = ctx.store;
    });
    afterAll(async () => {
      await ctx?.cleanup();
    });

    /** Appends each buffer in turn, as a client's PATCHes would. */
    async function upload(key: string, ...chunks: Buffer[]): Promise<UploadParts> {
      let parts: UploadParts = [];
      let offset = 0;
      for (const chunk of chunks) {
        const result = await store.appendUpload(key, offset, Readable.from([chunk]), parts);
        offset += chunk.length;
        expect(result.size).toBe(offset);
        parts = result.parts;
      }
      await store.completeUpload(key, parts);
      return parts;
    }

    it('reports every appended byte to onStored, in order, when it says it does (and never otherwise)', async () => {
      const key = blobKey('reg-a', 'reported');
      const chunks = [randomBytes(1000), randomBytes(3 * MiB), randomBytes(5)];
      const reported: Buffer[] = [];
      const result = await store.appendUpload(key, 0, Readable.from(chunks), [], { onStored: (stored) => void reported.push(...stored) });
      expect(result.size).toBe(3 * MiB + 1005);
      if (store.reportsStoredChunks) expectBytes(Buffer.concat(reported), Buffer.concat(chunks));
      else expect(reported).toEqual([]);
      await store.delete(key);
    });

    it('appends in several chunks, is readable between them, and reads whole and by ranges', async () => {
      const key = blobKey('reg-a', 'chunked');
      const chunks = [randomBytes(7), randomBytes(70_000), randomBytes(1)];
      const first = await store.appendUpload(key, 0, Readable.from([chunks[0]]), []);
      expect(first.size).toBe(7);
      expectBytes(await readAll(await store.read(key)), chunks[0]);
      const second = await store.appendUpload(key, 7, Readable.from([chunks[1]]), first.parts);
      const third = await store.appendUpload(key, second.size, Readable.from([chunks[2]]), second.parts);
      await store.completeUpload(key, third.parts);
      await store.completeUpload(key, third.parts); // a repeated final PUT is harmless

      const whole = Buffer.concat(chunks);
      expect(await store.stat(key)).toEqual({ size: whole.length });
      expectBytes(await readAll(await store.read(key)), whole);
      const last = whole.length - 1;
      for (const [start, end] of [[0, 0], [5, 9], [1000, 50_000], [last, last], [0, last]]) {
        expectBytes(await readAll(await store.read(key, { start, end })), whole.subarray(start, end + 1));
      }
      expectBytes(await readAll(await store.read(key, { start: last - 1, end: last + 100 })), whole.subarray(last - 1));
      await expectCode(store.read(key, { start: whole.length, end: whole.length + 5 }), 'InvalidOffset');
      await expectCode(store.read(key, { start: 5, end: 4 }), 'InvalidOffset');
      await store.delete(key);
    });

    it('copies whole objects and ranges into a writable through reused buffers (drivers offering copyTo)', async () => {
      if (!store.copyTo) return; // optional: callers fall back to read()
      const copyTo = store.copyTo.bind(store);
      const key = blobKey('reg-a', 'copy');
      const whole = randomBytes(2 * MiB + 123); // more than two 1 MiB buffers: reuse is exercised
      await store.completeUpload(key, await upload(key, whole));
      /** A destination that acknowledges each write later, as a slow socket does, and keeps copies of what it got. */
      const sink = () => {
        const got: Buffer[] = [];
        let readyCalls = 0;
        const out = new Writable({
          highWaterMark: 1,
          write(chunk: Buffer, _encoding, callback) {
            got.push(Buffer.from(chunk)); // a copy: the driver may reuse its buffer after the callback
            setTimeout(callback, 1);
          },
        });
        return { out, got, ready: () => void (readyCalls += 1), readyCalls: () => readyCalls };
      };
      const last = whole.length - 1;
      for (const range of [undefined, { start: 0, end: 0 }, { start: 5, end: 1_500_000 }, { start: MiB - 1, end: last + 100 }]) {
        const s = sink();
        let counted = 0;
        await copyTo(key, range, s.out, s.ready, (n) => (counted += n));
        const expected = range ? whole.subarray(range.start, Math.min(range.end, last) + 1) : whole;
        expectBytes(Buffer.concat(s.got), expected);
        expect({ counted, ready: s.readyCalls(), ended: s.out.writableEnded }).toEqual({ counted: expected.length, ready: 1, ended: false });
      }
      // Failures come before `ready` (nothing written yet) ...
      const missing = sink();
      await expectCode(copyTo(blobKey('reg-a', 'no-such-copy'), undefined, missing.out, missing.ready), 'NotFound');
      await expectCode(copyTo(key, { start: whole.length, end: whole.length }, missing.out, missing.ready), 'InvalidOffset');
      expect(missing.readyCalls()).toBe(0);
      // ... and a destination that goes away mid-copy ends it with an error.
      const gone = sink();
      const copying = copyTo(key, undefined, gone.out, () => setTimeout(() => gone.out.destroy(), 2));
      await expect(copying).rejects.toThrow();
      await store.delete(key);
    });

    it('completes an upload with no bytes as an empty object', async () => {
      const key = blobKey('reg-a', 'empty');
      const { parts, size } = await store.appendUpload(key, 0, Readable.from([]), []);
      expect(size).toBe(0);
      await store.completeUpload(key, parts);
      expect(await store.stat(key)).toEqual({ size: 0 });
      expectBytes(await readAll(await store.read(key)), Buffer.alloc(0));
      await store.delete(key);
    });

    it('refuses an append at the wrong offset and leaves the upload unchanged', async () => {
      const key = blobKey('reg-a', 'offsets');
      const { parts } = await store.appendUpload(key, 0, Readable.from([Buffer.from('abc')]), []);
      await expectCode(store.appendUpload(key, 0, Readable.from([Buffer.from('x')]), parts), 'InvalidOffset');
      await expectCode(store.appendUpload(key, 5, Readable.from([Buffer.from('x')]), parts), 'InvalidOffset');
      await expectCode(store.appendUpload(key, -1, Readable.from([Buffer.from('x')]), parts), 'InvalidOffset');
      expect(await store.stat(key)).toEqual({ size: 3 });
      expect((await readAll(await store.read(key))).toString()).toBe('abc');
      await store.delete(key);
    });

    it('leaves the upload as it was when an append fails midway, so it can be retried', async () => {
      const key = blobKey('reg-a', 'failed-append');
      const { parts } = await store.appendUpload(key, 0, Readable.from([Buffer.from('abc')]), []);
      // More than one 8 MiB block arrives before the client goes away.
      async function* dropsOut() {
        for (let i = 0; i < 9; i++) yield Buffer.alloc(MiB, i);
        throw new Error('client went away');
      }
      await expect(store.appendUpload(key, 3, Readable.from(dropsOut()), parts)).rejects.toBeInstanceOf(StorageError);
      expect(await store.stat(key)).toEqual({ size: 3 });
      const retried = await store.appendUpload(key, 3, Readable.from([Buffer.from('def')]), parts);
      expect(retried.size).toBe(6);
      await store.completeUpload(key, retried.parts);
      expect((await readAll(await store.read(key))).toString()).toBe('abcdef');
      await store.delete(key);
    });

    it('reports missing objects: stat → undefined, read → NotFound', async () => {
      expect(await store.stat(blobKey('reg-a', 'missing'))).toBeUndefined();
      await expectCode(store.read(blobKey('reg-a', 'missing')), 'NotFound');
      await expectCode(store.read(blobKey('reg-a', 'missing'), { start: 0, end: 0 }), 'NotFound');
    });

    it('deletes idempotently', async () => {
      const key = blobKey('reg-a', 'to-delete');
      await upload(key, Buffer.from('bytes'));
      await store.delete(key);
      expect(await store.stat(key)).toBeUndefined();
      await expectCode(store.read(key), 'NotFound');
      await store.delete(key);
      await store.delete(blobKey('reg-never', 'seen'));
      expect(await listAll(store, '')).toEqual([]);
    });

    it('lists exactly the objects under a prefix, with sizes', async () => {
      const before = Date.now();
      await upload('registries/r1/blobs/u1', Buffer.alloc(3));
      await upload('registries/r1/blobs/u2', Buffer.alloc(10), Buffer.alloc(5));
      await upload('registries/r1/other/deep/u3', Buffer.alloc(1));
      await upload('registries/r10/blobs/u4', Buffer.alloc(2));
      const r1 = await listAll(store, 'registries/r1/');
      expect(r1.map(({ key, size }) => ({ key, size }))).toEqual([
        { key: 'registries/r1/blobs/u1', size: 3 },
        { key: 'registries/r1/blobs/u2', size: 15 },
        { key: 'registries/r1/other/deep/u3', size: 1 },
      ]);
      for (const { lastModified } of r1) {
        expect(Object.prototype.toString.call(lastModified)).toBe('[object Date]'); // fs dates come from another realm under jest
        expect(Math.abs(lastModified.getTime() - before)).toBeLessThan(120_000);
      }
      expect((await listAll(store, 'registries/r1')).map((o) => o.key)).toHaveLength(4);
      expect((await listAll(store, 'registries/r1/blobs/u')).map((o) => o.key)).toEqual(['registries/r1/blobs/u1', 'registries/r1/blobs/u2']);
      expect(await listAll(store, 'registries/none/')).toEqual([]);
      for (const { key } of await listAll(store, '')) await store.delete(key);
      expect(await listAll(store, 'registries/')).toEqual([]);
    });

    it('rejects invalid keys and prefixes', async () => {
      for (const key of ['../x', 'a/../b', '/abs', 'a//b', '', 'a/./b', 'a/b/', 'a\\b', 'a b', 'ä', 'a/..']) {
        await expectCode(store.appendUpload(key, 0, Readable.from([Buffer.from('x')]), []), 'InvalidKey');
        await expectCode(store.completeUpload(key, []), 'InvalidKey');
        await expectCode(store.stat(key), 'InvalidKey');
        await expectCode(store.read(key), 'InvalidKey');
        await expectCode(store.delete(key), 'InvalidKey');
      }
      for (const prefix of ['../', '/abs', 'a//', '..']) await expectCode(listAll(store, prefix), 'InvalidKey');
      expect(await listAll(store, '')).toEqual([]);
    });

    it('round-trips 64 MiB streamed in 8 MiB appends', async () => {
      const key = blobKey('reg-big', 'u64');
      const written = createHash('sha256');
      let parts: UploadParts = [];
      const started = performance.now();
      for (let offset = 0; offset < 64 * MiB; offset += 8 * MiB) {
        const result = await store.appendUpload(key, offset, Readable.from(generate(8 * MiB, written)), parts);
        expect(result.size).toBe(offset + 8 * MiB);
        parts = result.parts;
      }
      await store.completeUpload(key, parts);
      const uploaded = performance.now();
      const read = createHash('sha256');
      for await (const chunk of await store.read(key)) read.update(chunk as Buffer);
      const done = performance.now();
      expect(read.digest('hex')).toBe(written.digest('hex'));
      expect(await store.stat(key)).toEqual({ size: 64 * MiB });
      console.log(
        `${name}: 64 MiB round trip ${Math.round(done - started)} ms ` +
          `(upload ${Math.round(uploaded - started)} ms, download ${Math.round(done - uploaded)} ms)`,
      );
      await store.delete(key);
    });

    it('keeps concurrent uploads to different keys apart', async () => {
      const keys = [0, 1, 2, 3].map((i) => blobKey('reg-c', `u${i}`));
      const contents = keys.map((_, i) => [Buffer.alloc(100_000, i + 1), Buffer.alloc(50_000, i + 11), Buffer.alloc(200_001, i + 21)]);
      await Promise.all(keys.map((key, i) => upload(key, ...contents[i])));
      for (const [i, key] of keys.entries()) {
        expectBytes(await readAll(await store.read(key)), Buffer.concat(contents[i]));
      }
      await Promise.all(keys.map((key) => store.delete(key)));
    });

    it('leaves nothing behind once every object is deleted', async () => {
      expect(await listAll(store, '')).toEqual([]);
      if (ctx.leftovers) expect(await ctx.leftovers()).toEqual([]);
    });
  });
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function listAll(store: BlobStore, prefix: string): Promise<{ key: string; size: number; lastModified: Date }[]> {
  const items = [];
  for await (const item of store.list(prefix)) items.push(item);
  return items.sort((a, b) => a.key.localeCompare(b.key));
}

/** Compares by length and digest: jest's deep equality is slow on large buffers. */
function expectBytes(actual: Buffer, expected: Buffer): void {
  const summary = (bytes: Buffer) => ({ length: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') });
  expect(summary(actual)).toEqual(summary(expected));
}

async function expectCode(promise: Promise<unknown>, code: StorageErrorCode): Promise<void> {
  await expect(promise).rejects.toMatchObject({ name: 'StorageError', code });
}

/** Random bytes made 1 MiB at a time as the stream is read, so no test holds the whole payload. */
function* generate(bytes: number, hash: Hash): Generator<Buffer> {
  for (let done = 0; done < bytes; done += MiB) {
    const chunk = randomBytes(Math.min(MiB, bytes - done));
    hash.update(chunk);
    yield chunk;
  }
}
