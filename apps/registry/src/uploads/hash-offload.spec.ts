import { createHash, randomBytes, randomFillSync } from 'node:crypto';
import { Digester } from '@berth/oci';
import { HashOffload, OffloadedDigest } from './hash-offload';

const sha256 = (parts: Buffer[]) => `sha256:${createHash('sha256').update(Buffer.concat(parts)).digest('hex')}`;

/** Feeds chunks the way UploadMeter does: waits whenever update asks it to. */
async function feed(digest: { update(chunk: Buffer): unknown }, chunks: Buffer[]): Promise<void> {
  for (const chunk of chunks) {
    const wait = digest.update(chunk);
    if (wait instanceof Promise) await wait;
  }
}

function randomChunks(total: number): Buffer[] {
  const chunks: Buffer[] = [];
  for (let sent = 0; sent < total; ) {
    const size = Math.min(total - sent, 1 + Math.floor(Math.random() * 200_000));
    chunks.push(randomBytes(size));
    sent += size;
  }
  return chunks;
}

describe('HashOffload', () => {
  let offload: HashOffload;

  afterEach(async () => {
    await offload.close();
  });

  it('computes the same sha256 and sha512 as node:crypto for uneven chunks, empty input included', async () => {
    offload = new HashOffload(2);
    const chunks = randomChunks(5 * 1024 * 1024 + 12_345);
    const digest = offload.create('sha256');
    await feed(digest, chunks);
    expect(digest.size).toBe(5 * 1024 * 1024 + 12_345);
    expect(await digest.digest()).toBe(sha256(chunks));

    const sha512 = offload.create('sha512');
    await feed(sha512, chunks.slice(0, 3));
    expect(await sha512.digest()).toBe(`sha512:${createHash('sha512').update(Buffer.concat(chunks.slice(0, 3))).digest('hex')}`);

    expect(await offload.create('sha256').digest()).toBe(sha256([]));
  });

  it('keeps going after a digest is taken, as a chunked upload does between PATCHes', async () => {
    offload = new HashOffload(1);
    const [first, second] = [randomChunks(1_500_000), randomChunks(700_000)];
    const digest = offload.create('sha256');
    await feed(digest, first);
    expect(await digest.digest()).toBe(sha256(first));
    await feed(digest, second);
    expect(await digest.digest()).toBe(sha256([...first, ...second]));
  });

  it('keeps concurrent digests apart across threads', async () => {
    offload = new HashOffload(2);
    const inputs = Array.from({ length: 6 }, () => randomChunks(2 * 1024 * 1024 + 99));
    const digests = inputs.map(() => offload.create('sha256'));
    await Promise.all(inputs.map((chunks, index) => feed(digests[index]!, chunks)));
    expect(await Promise.all(digests.map((digest) => digest.digest()))).toEqual(inputs.map(sha256));
  });

  it('bounds the bytes queued to the workers: update asks the sender to wait', async () => {
    const budget = 3 * 1024 * 1024;
    offload = new HashOffload(1, budget);
    const digest = offload.create('sha256');
    let waited = 0;
    let peak = 0;
    for (const chunk of randomChunks(40 * 1024 * 1024)) {
      const wait = digest.update(chunk);
      peak = Math.max(peak, offload.bytesInFlight);
      if (wait) {
        waited += 1;
        await wait;
      }
    }
    expect(waited).toBeGreaterThan(0);
    // At most one batch over the budget is ever queued (the one that crossed it).
    expect(peak).toBeLessThanOrEqual(budget + 1024 * 1024);
    await digest.digest();
    expect(offload.bytesInFlight).toBe(0);
  });

  it('offloads up to its cap and hashes the rest inline', async () => {
    const many = new HashOffload(1);
    try {
      // By default the bench's 20 parallel pushes are all hashed off the event loop.
      const twenty = Array.from({ length: 20 }, () => many.start('sha256'));
      expect(twenty.every((digest) => digest instanceof OffloadedDigest)).toBe(true);
      for (const digest of twenty) digest.dispose?.();
    } finally {
      await many.close();
    }
    offload = new HashOffload(1, 32 * 1024 * 1024, 2);
    const started = [offload.start('sha256'), offload.start('sha256'), offload.start('sha256')];
    expect(started.map((digest) => digest instanceof OffloadedDigest)).toEqual([true, true, false]);
    expect(started[2]).toBeInstanceOf(Digester);
    started[0]!.dispose?.();
    expect(offload.start('sha256')).toBeInstanceOf(OffloadedDigest);

    const inline = new HashOffload(0);
    expect(inline.start('sha256')).toBeInstanceOf(Digester);
  });

  /** A chunk that is the whole of its own memory, as node's HTTP parser hands out. */
  const ownChunk = (size: number) => randomFillSync(Buffer.allocUnsafeSlow(size));

  it('hashes chunks it is given to own without copying them, in order with copied bytes, and frees them', async () => {
    offload = new HashOffload(1);
    const digest = offload.create('sha256');
    const shared = randomBytes(300_000);
    const owned = [ownChunk(65_536), ownChunk(65_536), ownChunk(1_000)];
    const expected: Buffer[] = [];
    // Copied bytes first (a partial batch), then owned chunks mixed with a view of someone else's buffer.
    const head = randomBytes(123_457);
    expected.push(Buffer.from(head));
    await feed(digest, [head]);
    const batch = [owned[0]!, shared.subarray(10, 200_010), owned[1]!, owned[2]!];
    expected.push(...batch.map((chunk) => Buffer.from(chunk)));
    const wait = digest.updateOwned(batch);
    if (wait) await wait;
    // The owned chunks went to the hashing thread (their memory is gone from here); the view is untouched.
    expect(owned.map((chunk) => chunk.length)).toEqual([0, 0, 0]);
    expect(shared.subarray(10, 200_010).equals(expected[2]!)).toBe(true);
    const tail = [ownChunk(7)];
    expected.push(Buffer.from(tail[0]!));
    await digest.updateOwned(tail);
    expect(digest.size).toBe(expected.reduce((sum, chunk) => sum + chunk.length, 0));
    expect(await digest.digest()).toBe(sha256(expected));
    expect(offload.bytesInFlight).toBe(0);
  });

  it('bounds owned chunks queued to the workers too, and frees what a failed digest is still given', async () => {
    const budget = 2 * 1024 * 1024;
    offload = new HashOffload(1, budget);
    const digest = offload.create('sha256');
    const expected: Buffer[] = [];
    let waited = 0;
    for (let i = 0; i < 64; i++) {
      const batch = Array.from({ length: 16 }, () => ownChunk(64 * 1024));
      expected.push(...batch.map((chunk) => Buffer.from(chunk)));
      const wait = digest.updateOwned(batch);
      expect(offload.bytesInFlight).toBeLessThanOrEqual(budget + 1024 * 1024);
      if (wait) {
        waited += 1;
        await wait;
      }
    }
    expect(waited).toBeGreaterThan(0);
    expect(await digest.digest()).toBe(sha256(expected));

    const worker = (offload as unknown as { workers: Array<{ terminate(): Promise<number> }> }).workers[0]!;
    await worker.terminate();
    await expect(digest.digest()).rejects.toThrow(/exited/);
    const late = [ownChunk(1024)];
    expect(digest.updateOwned(late)).toBeUndefined();
    expect(late[0]!.length).toBe(0);
    expect(digest.size).toBe(64 * 16 * 64 * 1024 + 1024);
  });

  it('fails the digests of a worker that died, so the caller can re-hash, and starts a new worker', async () => {
    offload = new HashOffload(1);
    const digest = offload.create('sha256');
    await feed(digest, randomChunks(3 * 1024 * 1024));
    const worker = (offload as unknown as { workers: Array<{ terminate(): Promise<number> }> }).workers[0]!;
    await worker.terminate();
    await expect(digest.digest()).rejects.toThrow(/exited/);
    expect(offload.bytesInFlight).toBe(0);
    // Bytes still arriving for the failed digest are accepted without hashing.
    expect(digest.update(randomBytes(10))).toBeUndefined();

    const fresh = offload.create('sha256');
    const chunks = randomChunks(1_234_567);
    await feed(fresh, chunks);
    expect(await fresh.digest()).toBe(sha256(chunks));
  });
});
