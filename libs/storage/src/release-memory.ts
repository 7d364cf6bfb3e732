import { MessageChannel, type MessagePort } from 'node:worker_threads';

/**
 * A closed port. Posting to it still detaches the ArrayBuffers it is given
 * (structured clone transfers before delivery), and the message is dropped
 * on the spot: their memory goes back to the allocator synchronously.
 */
let sink: MessagePort | undefined;

function closedPort(): MessagePort {
  if (!sink) {
    sink = new MessageChannel().port1;
    sink.close();
  }
  return sink;
}

/**
 * The ArrayBuffer a non-empty buffer spans whole (what node's HTTP parser
 * hands out for each body chunk), else undefined: a slice, a view of a
 * shared pool or of a SharedArrayBuffer. Only such memory can be handed
 * over or freed without touching anyone else's bytes.
 */
export function wholeMemoryOf(chunk: Buffer): ArrayBuffer | undefined {
  const memory = chunk.buffer;
  return memory instanceof ArrayBuffer && chunk.byteOffset === 0 && memory.byteLength === chunk.length && chunk.length > 0 ? memory : undefined;
}

/**
 * Frees a buffer's memory now rather than at a later garbage collection,
 * and leaves the buffer empty (length 0). Only a buffer that is the whole
 * of its own memory is released (what node's HTTP parser hands out for
 * each body chunk); a slice, a view of a shared pool or anything else
 * returns false and is left as it is.
 *
 * The caller must hold the only reference that will ever read the bytes
 * again: every other view of the memory becomes empty too.
 *
 * Why: V8 frees a body chunk only when a collection finds it dead, which
 * for a stream of 64 KiB chunks is every ~25–30 MiB ("external memory
 * pressure"). Meanwhile every new chunk lands in memory nobody has touched
 * lately: a cache miss per line and, once malloc has trimmed its heap, a
 * page fault per 4 KiB. Freed as soon as it is written, a chunk's memory
 * is reused, still warm, by the next one.
 */
export function releaseBufferMemory(chunk: Buffer): boolean {
  const memory = wholeMemoryOf(chunk);
  if (!memory) return false;
  try {
    closedPort().postMessage(memory, [memory]);
  } catch {
    return false; // an ArrayBuffer that cannot be transferred stays with the buffer
  }
  return chunk.length === 0;
}
