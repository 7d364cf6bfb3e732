import { randomBytes } from 'node:crypto';
import { releaseBufferMemory } from './release-memory';

/** A buffer that is the whole of its own memory, as node's HTTP parser hands out body chunks. */
function standalone(size: number): Buffer {
  const buffer = Buffer.allocUnsafeSlow(size);
  randomBytes(Math.min(size, 1024)).copy(buffer);
  return buffer;
}

describe('releaseBufferMemory', () => {
  it('frees a standalone buffer at once, without waiting for a collection, and leaves it empty', () => {
    const size = 32 * 1024 * 1024;
    const buffer = standalone(size);
    const before = process.memoryUsage().arrayBuffers;
    expect(releaseBufferMemory(buffer)).toBe(true);
    expect(buffer.length).toBe(0);
    expect(buffer.buffer.byteLength).toBe(0);
    // The allocator's own count drops now: the memory went back to malloc, not to a later GC.
    expect(before - process.memoryUsage().arrayBuffers).toBeGreaterThanOrEqual(size);
  });

  it('leaves alone what does not own all of its memory: pooled buffers, slices, shared memory, empty buffers', () => {
    const pooled = Buffer.from('abc'); // a view of node's shared 8 KiB pool
    const parent = standalone(64 * 1024);
    const parentCopy = Buffer.from(parent);
    const slice = parent.subarray(1024, 2048);
    const shared = Buffer.from(new SharedArrayBuffer(4096));
    shared.fill(7);

    expect(releaseBufferMemory(pooled)).toBe(false);
    expect(pooled.toString()).toBe('abc');
    expect(releaseBufferMemory(slice)).toBe(false);
    expect(slice.length).toBe(1024);
    expect(parent.equals(parentCopy)).toBe(true);
    expect(releaseBufferMemory(shared)).toBe(false);
    expect(shared.length).toBe(4096);
    expect(shared.every((byte) => byte === 7)).toBe(true);
    expect(releaseBufferMemory(Buffer.alloc(0))).toBe(false);
  });

  it('is harmless on a buffer already released', () => {
    const buffer = standalone(4096);
    expect(releaseBufferMemory(buffer)).toBe(true);
    expect(releaseBufferMemory(buffer)).toBe(false);
    expect(buffer.length).toBe(0);
  });
});
