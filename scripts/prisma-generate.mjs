// Generates the Prisma client into libs/db/src/generated (run by postinstall).
// Prisma's CLI wants its native schema engine even though the `prisma-client`
// generator never runs it, and that binary cannot be downloaded everywhere;
// pointing PRISMA_SCHEMA_ENGINE_BINARY at any executable skips the download.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

const env = { ...process.env, PRISMA_HIDE_UPDATE_MESSAGE: '1', CHECKPOINT_DISABLE: '1' };
if (!env.PRISMA_SCHEMA_ENGINE_BINARY) {
  env.PRISMA_SCHEMA_ENGINE_BINARY = process.execPath && existsSync('/bin/true') ? '/bin/true' : process.execPath;
}
const result = spawnSync(process.execPath, ['node_modules/prisma/build/index.js', 'generate'], { stdio: 'inherit', env });
process.exit(result.status ?? 1);
