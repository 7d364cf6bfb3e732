import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { freePort, startChild, waitForHttp, type Cleanup } from './processes';
import type { Target } from './registry-client';

export const DISTRIBUTION_BINARY = 'docker-registry';

/**
 * Distribution's configuration: filesystem storage, the in-memory blob
 * descriptor cache of the stock `registry:2` image, no auth, logging at
 * warn with the access log off (as Berth runs at LOG_LEVEL=warn), and no
 * background upload purging or storage health checks during the run.
 */
export function distributionConfig(rootDirectory: string, port: number): string {
  return [
    'version: 0.1',
    'log:',
    '  level: warn',
    '  formatter: text',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${JSON.stringify(rootDirectory)}`,
    '  cache:',
    '    blobdescriptor: inmemory',
    '  delete:',
    '    enabled: true',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    `  secret: ${randomBytes(24).toString('hex')}`,
    'health:',
    '  storagedriver:',
    '    enabled: false',
    '',
  ].join('\n');
}

/** Starts Distribution on a free loopback port with its storage under `workDir`. */
export async function startDistribution(workDir: string, cleanup: Cleanup): Promise<Target> {
  const root = path.join(workDir, 'distribution');
  await mkdir(root, { recursive: true });
  const port = await freePort();
  const configFile = path.join(workDir, 'distribution.yml');
  await writeFile(configFile, distributionConfig(path.join(root, 'storage'), port));
  // REGISTRY_* variables override Distribution's config file (and Berth uses some of those names).
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('REGISTRY_')));
  const child = startChild('distribution', DISTRIBUTION_BINARY, ['serve', configFile], { env, cwd: workDir, logFile: path.join(workDir, 'distribution.log') }, cleanup);
  const host = `127.0.0.1:${port}`;
  await waitForHttp(child, port, '/v2/', host);
  return { label: 'Distribution', port, host, credentials: undefined, pid: child.pid, authDescription: 'off (no auth section: anonymous push and pull)' };
}
