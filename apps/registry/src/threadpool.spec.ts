import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { REGISTRY_ENV } from './node-options';

const ROOT = path.resolve(__dirname, '../../..');

/** Threads of a fresh Node process that loaded threadpool.ts and then used the pool once. */
function threadsAfterPoolUse(env: NodeJS.ProcessEnv): number {
  const script = `require('./apps/registry/src/threadpool.ts');
    const fs = require('node:fs');
    fs.readFile('package.json', () => console.log(fs.readdirSync('/proc/self/task').length));`;
  const run = spawnSync(process.execPath, ['-r', './scripts/register.js', '-e', script], {
    cwd: ROOT,
    env,
    encoding: 'utf8',
  });
  expect({ status: run.status, stderr: run.stderr }).toEqual({ status: 0, stderr: '' });
  return Number(run.stdout.trim());
}

const linux = process.platform === 'linux' ? describe : describe.skip;

linux('data plane thread pool size', () => {
  const { UV_THREADPOOL_SIZE: _unset, ...base } = process.env;

  it("starts libuv's pool with the size node-options.ts gives unless the operator set one", () => {
    const defaulted = threadsAfterPoolUse(base);
    const operatorFour = threadsAfterPoolUse({ ...base, UV_THREADPOOL_SIZE: '4' });
    expect(defaulted - operatorFour).toBe(Number(REGISTRY_ENV.UV_THREADPOOL_SIZE) - 4);
  });
});
