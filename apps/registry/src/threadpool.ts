import { REGISTRY_ENV } from './node-options';

// Imported first by main.ts: libuv sizes its thread pool from the
// environment when the pool first starts, which is after this module runs.
// An operator's own UV_THREADPOOL_SIZE wins (node-options.ts says why 16).
process.env['UV_THREADPOOL_SIZE'] ??= REGISTRY_ENV.UV_THREADPOOL_SIZE;
