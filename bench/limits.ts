import { createHash } from 'node:crypto';
import { mkdir, open, rm } from 'node:fs/promises';
import * as http from 'node:http';
import * as path from 'node:path';
import { poolChunks } from './blob-content';
import { runLoad } from './load';
import { startChild, type Cleanup } from './processes';
import { RegistryClient, type Target } from './registry-client';
import { median } from './report';
import { downloadVerified } from './verified-download';
import { MIB } from './settings';

export interface MachineLimits {
  sha256MiBps: number;
  diskWriteMiBps: number;
  loopbackHttpMiBps: number;
  /** The bench client downloading from the trivial server while hashing, as a verified pull does. */
  verifiedDownloadMiBps: number;
  loopbackRequestsPerSecond: number;
}

/** Node's sha256 over in-memory buffers (1 MiB updates), as a registry hashes an upload. */
export function measureSha256(bytes: number): number {
  const runs = [0, 1, 2].map(() => {
    const hash = createHash('sha256');
    const started = performance.now();
    for (const chunk of poolChunks(bytes)) hash.update(chunk);
    hash.digest();
    return bytes / MIB / ((performance.now() - started) / 1000);
  });
  return median(runs);
}

/**
 * Writes `bytes` split over `files` equal files side by side (1 MiB writes,
 * as a registry receives a blob), keeping one flush to disk (fdatasync) in
 * flight per file while writing, then fsyncs each; MiB/s over the whole,
 * fsyncs included. The files are left in `dir` (the caller removes them).
 * Flushing while writing measures what the disk can take rather than the
 * time of two phases back to back: write-then-fsync of 1 GiB measured
 * 361–1,497 MiB/s here, the same write with the flush overlapped
 * 2,071–2,438 (256 MiB: 1,287–1,395 against 1,596–1,980).
 */
export async function writeAndSync(dir: string, name: string, bytes: number, files = 1): Promise<number> {
  await mkdir(dir, { recursive: true });
  const each = Math.ceil(bytes / files);
  const started = performance.now();
  await Promise.all(
    Array.from({ length: files }, async (_, i) => {
      const handle = await open(path.join(dir, files === 1 ? `${name}.bin` : `${name}-${i}.bin`), 'w');
      try {
        let flushing: Promise<void> | undefined;
        let failure: unknown;
        for (const chunk of poolChunks(Math.min(each, bytes - i * each))) {
          await handle.write(chunk);
          flushing ??= handle
            .datasync()
            .catch((error: unknown) => void (failure ??= error))
            .finally(() => (flushing = undefined));
        }
        await flushing;
        if (failure) throw failure;
        await handle.sync();
      } finally {
        await handle.close();
      }
    }),
  );
  return bytes / MIB / ((performance.now() - started) / 1000);
}

/**
 * Writes `bytes` to a file in `dir` and fsyncs it, three times (a new file
 * each time, removed after); the median MiB/s including the fsync. This is
 * the disk at the start of the run; the pushes are also compared with writes
 * made next to them (DISK_TWINS in workloads.ts).
 */
export async function measureDiskWrite(dir: string, bytes: number): Promise<number> {
  const runs: number[] = [];
  for (let i = 0; i < 3; i += 1) {
    const probeDir = path.join(dir, `disk-limit-${i}`);
    try {
      runs.push(await writeAndSync(probeDir, 'probe', bytes));
    } finally {
      await rm(probeDir, { recursive: true, force: true });
    }
  }
  return median(runs);
}

// A trivial server in its own process (as a registry would be): discards
// uploads, serves GET /bytes/<n> from one 1 MiB buffer held in memory (no
// disk, no copy), answers anything else with a tiny JSON body.
const TRIVIAL_SERVER = `
const http = require('node:http');
const block = require('node:crypto').randomBytes(1024 * 1024);
const server = http.createServer((req, res) => {
  const bytes = /^\\/bytes\\/(\\d+)$/.exec(req.url);
  if (req.method === 'GET' && bytes) {
    let left = Number(bytes[1]);
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': left });
    const pump = () => {
      while (left > 0) {
        const n = Math.min(left, block.length);
        left -= n;
        if (!res.write(n === block.length ? block : block.subarray(0, n))) return void res.once('drain', pump);
      }
      res.end();
    };
    return pump();
  }
  req.on('data', () => {});
  req.on('end', () => {
    res.statusCode = req.method === 'PUT' ? 201 : 200;
    res.setHeader('content-type', 'application/json');
    res.end(req.method === 'PUT' ? undefined : '{"schemaVersion":2}');
  });
});
server.keepAliveTimeout = 60000;
server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\\n'));
process.on('SIGTERM', () => process.exit(0));
`;

async function startTrivialServer(workDir: string, cleanup: Cleanup): Promise<{ port: number; stop(): Promise<void> }> {
  const child = startChild('trivial-server', process.execPath, ['-e', TRIVIAL_SERVER], { env: process.env, cwd: workDir, logFile: path.join(workDir, 'trivial-server.log') }, cleanup);
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.process.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('\n')) resolve(Number(out.trim()));
    });
    void child.exited.then((how) => reject(new Error(`trivial server exited (${how})`)));
  });
  return { port, stop: () => child.stop() };
}

/** Uploads `bytes` over loopback HTTP to the discarding server (median of 3), MiB/s. */
async function measureUpload(port: number, bytes: number): Promise<number> {
  const agent = new http.Agent({ keepAlive: true });
  const upload = () =>
    new Promise<number>((resolve, reject) => {
      const started = performance.now();
      const req = http.request(
        { host: '127.0.0.1', port, method: 'PUT', path: '/', agent, headers: { 'content-length': bytes, 'content-type': 'application/octet-stream' } },
        (res) => {
          res.resume();
          res.once('end', () => resolve(bytes / MIB / ((performance.now() - started) / 1000)));
        },
      );
      req.once('error', reject);
      void (async () => {
        for (const chunk of poolChunks(bytes)) {
          if (!req.write(chunk)) await new Promise((r) => req.once('drain', r));
        }
        req.end();
      })();
    });
  try {
    const runs: number[] = [];
    for (let i = 0; i < 3; i += 1) runs.push(await upload());
    return median(runs);
  } finally {
    agent.destroy();
  }
}

/**
 * Downloads `bytes` from the trivial server with the pull workload's own
 * downloader (bench/verified-download.ts), hashing every byte (median of 3),
 * MiB/s: what the bench's client reaches when the server costs almost
 * nothing. Context, not a ceiling: the client and the server share the cores.
 */
async function measureVerifiedDownload(port: number, bytes: number): Promise<number> {
  const runs: number[] = [];
  for (let i = 0; i < 3; i += 1) {
    const started = performance.now();
    const reply = await downloadVerified(port, `/bytes/${bytes}`, { Host: `127.0.0.1:${port}` });
    if (reply.status !== 200 || reply.bytes !== bytes) throw new Error(`trivial server download: status ${reply.status}, ${reply.bytes} of ${bytes} bytes`);
    runs.push(bytes / MIB / ((performance.now() - started) / 1000));
  }
  return median(runs);
}

export async function measureLimits(
  workDir: string,
  sizes: { hash: number; disk: number; http: number; clients: number; seconds: number },
  cleanup: Cleanup,
): Promise<MachineLimits> {
  const sha256MiBps = measureSha256(sizes.hash);
  const diskWriteMiBps = await measureDiskWrite(workDir, sizes.disk);
  const server = await startTrivialServer(workDir, cleanup);
  try {
    const loopbackHttpMiBps = await measureUpload(server.port, sizes.http);
    // The bench's own client: the one that pulls from and loads the registries.
    const target: Target = { label: 'Distribution', port: server.port, host: `127.0.0.1:${server.port}`, credentials: undefined, pid: 0, authDescription: '' };
    const client = new RegistryClient(target);
    try {
      const verifiedDownloadMiBps = await measureVerifiedDownload(server.port, sizes.http);
      // The same load generator as the registry load tests, against a server doing nothing.
      const load = await runLoad(client, 'GET', '/', undefined, { clients: sizes.clients, seconds: sizes.seconds });
      return { sha256MiBps, diskWriteMiBps, loopbackHttpMiBps, verifiedDownloadMiBps, loopbackRequestsPerSecond: load.requestsPerSecond };
    } finally {
      client.close();
    }
  } finally {
    await server.stop();
  }
}
