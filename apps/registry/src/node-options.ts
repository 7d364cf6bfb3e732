/**
 * Node/V8 options the data plane runs with in production: the registry
 * image sets them as NODE_OPTIONS (deploy/docker/Dockerfile; a test keeps
 * the two equal) and the benchmark starts the data plane with them.
 *
 * Why: with Node's defaults, V8 grows the heap far past what the data plane
 * keeps alive. Measured with `npm run bench` (bench/RESULTS.md): the live
 * heap after the 10,000-tag fixtures and the load tests is ~35 MiB, yet the
 * heap grows to ~120 MiB and the process stays at ~300 MiB, because V8 sizes
 * its growth steps from the (multi-gigabyte) default limit. An old-space
 * limit of 160 MiB makes V8 collect earlier, which keeps peak RSS during a
 * 1 GiB push under 200 MiB at a small cost in request rate; 8 MiB
 * semi-spaces keep young-generation collections cheap for request-heavy
 * loads. What could grow the heap with load is bounded in code: manifest
 * parsing by a byte budget (MANIFEST_PARSE_BUDGET_BYTES), listings by page
 * sizes, blob bytes are streamed (Buffers live outside the V8 heap).
 *
 * Operators who give the data plane a larger container may raise the
 * limit by setting NODE_OPTIONS themselves.
 */
export const REGISTRY_NODE_OPTIONS = '--max-old-space-size=160 --max-semi-space-size=8';
