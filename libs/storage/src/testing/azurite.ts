import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

// Azurite's well-known development account (public, documented by Microsoft).
const ACCOUNT = 'devstoreaccount1';
const ACCOUNT_KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';
const AZURITE_BIN = path.join(__dirname, '..', '..', '..', '..', 'node_modules', '.bin', 'azurite-blob');

export interface Azurite {
  port: number;
  connectionString: string;
  stop(): Promise<void>;
}

/**
 * Starts Azurite's Blob service on a free port of 127.0.0.1, storing in a
 * temporary directory; for the storage driver suite and end-to-end tests.
 */
export async function startAzurite(): Promise<Azurite> {
  const dir = await mkdtemp(path.join(tmpdir(), 'berth-azurite-'));
  const child: ChildProcess = spawn(
    process.execPath,
    [AZURITE_BIN, '--blobHost', '127.0.0.1', '--blobPort', '0', '--location', dir, '--silent', '--skipApiVersionCheck', '--loose', '--disableTelemetry'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      await new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      });
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    // Azurite prints the port it bound once it listens.
    const port = await new Promise<number>((resolve, reject) => {
      let output = '';
      const timer = setTimeout(() => reject(new Error(`Azurite did not start:\n${output}`)), 20_000);
      const onData = (data: Buffer) => {
        output += data.toString();
        const match = /listens on https?:\/\/127\.0\.0\.1:(\d+)/.exec(output);
        if (match) {
          clearTimeout(timer);
          resolve(Number(match[1]));
        }
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`Azurite exited with ${code}:\n${output}`));
      });
    });
    const connectionString = `DefaultEndpointsProtocol=http;AccountName=${ACCOUNT};AccountKey=${ACCOUNT_KEY};BlobEndpoint=http://127.0.0.1:${port}/${ACCOUNT};`;
    return { port, connectionString, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
