/**
 * Node/V8 options the data plane runs with in production: the registry
 * image sets them as NODE_OPTIONS (deploy/docker/Dockerfile; a test keeps
 * the two equal) and the benchmark starts the data plane with them, with
 * REGISTRY_NODE_FLAGS and with REGISTRY_ENV below.
 *
 * Why: with Node's defaults, V8 grows the heap far past what the data plane
 * keeps alive. Measured with `npm run bench` (bench/RESULTS.md): the live
 * heap after the 10,000-tag fixtures and the load tests is ~35 MiB, yet the
 * heap grows to ~120 MiB and the process stays at ~300 MiB, because V8 sizes
 * its growth steps from the (multi-gigabyte) default limit. An old-space
 * limit of 160 MiB makes V8 collect earlier, which keeps peak RSS during a
 * 1 GiB push under 200 MiB at a small cost in request rate. Semi-spaces
 * were 8 MiB (cheaper young-generation collections under request-heavy
 * loads) until the 48 MiB initial old space below; with both, the bodies of
 * uploads that survive young collections pile up as garbage between the now
 * rare full collections, and the RSS before the 1 GiB push reached 168–204
 * MiB over runs. With 4 MiB semi-spaces (same bench, 3 rounds): 137–172 MiB,
 * pushes unchanged (256 MiB monolithic 717 MiB/s, chunked 570, 1 GiB 736),
 * manifest GETs 18.3–19.0k req/s against 19.8–21.5k with 8 MiB (~9× Distribution's
 * either way). What could grow the heap with load is bounded in code: manifest
 * parsing by a byte budget (MANIFEST_PARSE_BUDGET_BYTES), listings by page
 * sizes, blob bytes are streamed (Buffers live outside the V8 heap).
 *
 * Operators who give the data plane a larger container may raise the
 * limit by setting NODE_OPTIONS themselves.
 */
export const REGISTRY_NODE_OPTIONS = '--max-old-space-size=160 --max-semi-space-size=4';

/**
 * V8 flags the data plane's command line carries (the registry image's CMD;
 * a test keeps the two equal): Node refuses these in NODE_OPTIONS.
 *
 * An initial old-space size of 48 MiB stops V8 from marking the old
 * generation over and over while blobs stream in. With the live heap at
 * ~9 MiB, V8 otherwise shrinks the old generation's limit to about the live
 * size plus the young generation's capacity (24 of 160 MiB with 8 MiB
 * semi-spaces, 20 with 4: smaller semi-spaces do not avoid it), so every burst of young allocation, such as the
 * Buffer of each ~64 KiB of request body, starts incremental marking
 * (`--trace-incremental-marking`: "Start (allocation limit): 8MB / 24MB"):
 * ~65 mark-compacts per GiB pushed, and V8's helper threads busy for a third
 * of a core. With 48 MiB: 4 mark-compacts in 2 GiB (32 MiB: still ~40 per
 * GiB). Measured with `BENCH_BERTH_NODE_FLAGS=--initial-old-space-size=<n>
 * BENCH_WORKLOADS=push-mono,push-chunked,push-parallel,manifest-get,rss-1g
 * BENCH_ROUNDS=2 BENCH_LIMITS=0 npm run bench`, without → with 48: 256 MiB
 * monolithic push 497 → 646 MiB/s, chunked 428 → 589, 20 parallel 422 →
 * 481, 1 GiB monolithic 575 → 756; server CPU per MiB pushed 3.05 → 2.40 ms;
 * the cost is resident memory, since the heap may now fill to 48 MiB before
 * a full collection: RSS after the load tests 128 → 160 MiB, peak during the
 * 1 GiB push 133 → 164 MiB.
 */
export const REGISTRY_NODE_FLAGS = ['--initial-old-space-size=48'] as const;

/**
 * Environment of the data plane (the registry image sets it too; the same
 * test keeps the two equal).
 *
 * MALLOC_MMAP_THRESHOLD_ (glibc malloc): blob reads and writes allocate and
 * free 1 MiB buffers. glibc serves big allocations with mmap and, by
 * default, raises its mmap threshold to the size of each mmapped block
 * freed, so after the first download every 1 MiB buffer comes from the heap
 * arenas instead, where freed memory is kept, fragmented, for reuse:
 * resident memory crept up round after round. A fixed threshold (128 KiB,
 * glibc's initial value; setting it turns the adjustment off) returns each
 * big buffer to the system when freed. Measured with
 * `BENCH_WORKLOADS=push-mono,pull,push-parallel,manifest-get,rss-1g
 * BENCH_ROUNDS=2 npm run bench`: peak RSS during the 1 GiB push 234–257 →
 * 194–199 MiB, throughput unchanged or better.
 *
 * UV_THREADPOOL_SIZE (libuv, read when the pool first starts; main.ts also
 * sets it when the environment does not): every file write, open, close and
 * fsync of an upload runs on libuv's pool, 4 threads by default. Each upload
 * flushes its bytes in the background after every MiB (filesystem driver),
 * and an fdatasync holds its thread for milliseconds, so with 20 uploads at
 * once the writes of the others queued behind 4 flushes and the streams
 * stalled. With 16 threads (`BENCH_WORKLOADS=push-mono,push-chunked,pull,
 * push-parallel BENCH_ROUNDS=3 BENCH_LIMITS=0 npm run bench`, two runs each,
 * 4 → 16): 20 parallel 16 MiB pushes 354.6 and 412.7 → 449.9 and 440.9 MiB/s
 * (0.99× and 1.15× → 1.28× and 1.29× Distribution), their slowest round 286
 * and 401 → 385 and 379, server CPU per MiB 4.22 and 3.69 → 3.44 and 3.53
 * ms; the single pushes and the pull unchanged within noise. Idle threads
 * cost no CPU, and their stacks are only reserved until used.
 *
 * MALLOC_TRIM_THRESHOLD_ (glibc malloc, 8 MiB; glibc's default is 128 KiB
 * once the mmap threshold is fixed): the filesystem driver frees each ~64
 * KiB request chunk as soon as it is written (releaseBufferMemory), so the
 * next chunk reuses warm memory instead of memory V8 would free only at its
 * next collection. With the default, every such free left more than 128 KiB
 * at the top of the heap, glibc gave it back (brk), which on this VM is a
 * TLB-flush IPI to the other core, and the next chunk faulted the pages in
 * again: `perf record -g -p <data plane>` during `BENCH_WORKLOADS=push-mono
 * BENCH_ROUNDS=3 BENCH_LIMITS=0 BENCH_RESULTS= npm run bench` put ~100 of
 * the event loop's ~1,180 samples in brk. Keeping up to 8 MiB free at the
 * top removes both: the event loop's samples for the same 768 MiB went
 * from 1,313 (neither change) to 869 (both), the parser's copy of each
 * chunk from 313 to 39. Resident memory still falls, because chunks no
 * longer pile up between collections: peak RSS of the 256 MiB push ~119 →
 * ~94 MiB.
 */
export const REGISTRY_ENV = { MALLOC_MMAP_THRESHOLD_: '131072', MALLOC_TRIM_THRESHOLD_: '8388608', UV_THREADPOOL_SIZE: '16' } as const;
