import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import * as path from 'node:path';
import * as http from 'node:http';
import * as net from 'node:net';
import { Client } from 'pg';
import { BlobContent } from './blob-content';
import { measureLimits, writeAndSync } from './limits';
import { busyPercent, Cleanup, cpuSeconds, machineCpuTicks, pidsNamed } from './processes';
import { buildImageLayout } from './oci-layout';
import { downloadVerified } from './verified-download';
import { runLoad } from './load';
import { RegistryClient } from './registry-client';
import { checkTargets, markdownReport, Samples, summarise } from './report';
import { runBench } from './run';
import { sizesFor, type BenchSettings } from './settings';
import { diskSpaceNeeded } from './workloads';

describe('bench building blocks', () => {
  it('generates blob content whose ranges add up to the whole and whose digest is stable', () => {
    const content = new BlobContent(3 * 1024 * 1024 + 77);
    const whole = Buffer.concat([...content.chunks()]);
    expect(whole.length).toBe(content.size);
    expect(content.digest()).toBe(`sha256:${createHash('sha256').update(whole).digest('hex')}`);
    const pieces = [0, 10, 40, 1024 * 1024 + 5, content.size].flatMap((start, i, all) => (i + 1 < all.length ? [[start, all[i + 1]!]] : []));
    expect(Buffer.concat(pieces.flatMap(([s, e]) => [...content.chunks(s, e)])).equals(whole)).toBe(true);
    expect(new BlobContent(content.size).digest()).not.toBe(content.digest());
  });

  it('writes an OCI layout whose layers are valid gzip tars listed by diff_id', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'bench-layout-'));
    try {
      const layout = await buildImageLayout(dir, 5000);
      const blob = (digest: string) => readFileSync(path.join(dir, 'blobs', 'sha256', digest.slice(7)));
      const manifest = JSON.parse(blob(layout.manifestDigest).toString());
      const config = JSON.parse(blob(manifest.config.digest).toString());
      expect(manifest.layers).toHaveLength(3);
      expect(config.rootfs.diff_ids).toHaveLength(3);
      const listing = execFileSync('tar', ['-tzvf', path.join(dir, 'blobs', 'sha256', manifest.layers[0].digest.slice(7))]).toString();
      expect(listing).toMatch(/5000 .*layer0\/data\.bin/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  describe('verified download (the pull workload\'s client)', () => {
    // A raw TCP server, so each test decides exactly which bytes arrive and how they are split.
    async function serve(respond: (socket: net.Socket, request: string) => void): Promise<{ port: number; requests: string[]; close(): Promise<void> }> {
      const requests: string[] = [];
      const server = net.createServer((socket) => {
        let text = '';
        socket.on('data', (chunk) => {
          text += chunk.toString('latin1');
          if (text.includes('\r\n\r\n')) {
            requests.push(text);
            respond(socket, text);
          }
        });
        socket.on('error', () => undefined);
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const port = (server.address() as net.AddressInfo).port;
      return { port, requests, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
    }
    const body = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7) % 251));
    const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;

    it('hashes a body that arrives in pieces, the head split across reads, and sends the given headers', async () => {
      const server = await serve((socket) => {
        const whole = Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\nDocker-Content-Digest: ${digest}\r\n\r\n`), body]);
        const pieces = [whole.subarray(0, 10), whole.subarray(10, 70), whole.subarray(70, 100_000), whole.subarray(100_000)];
        const next = () => {
          const piece = pieces.shift();
          if (piece) socket.write(piece, () => setTimeout(next, 5));
          else socket.end();
        };
        next();
      });
      try {
        const reply = await downloadVerified(server.port, '/v2/a/blobs/x', { Host: 'reg.localhost:5000', Authorization: 'Bearer t' });
        expect(reply).toMatchObject({ status: 200, bytes: body.length, digest, errorBody: undefined });
        expect(reply.headers['docker-content-digest']).toBe(digest);
        expect(server.requests[0]).toMatch(/^GET \/v2\/a\/blobs\/x HTTP\/1\.1\r\n/);
        expect(server.requests[0]).toContain('Host: reg.localhost:5000\r\nAuthorization: Bearer t\r\n');
      } finally {
        await server.close();
      }
    });

    it('keeps the body of an answer other than 200, to report it', async () => {
      const error = '{"errors":[{"code":"BLOB_UNKNOWN"}]}';
      const server = await serve((socket) => socket.end(`HTTP/1.1 404 Not Found\r\nContent-Length: ${error.length}\r\n\r\n${error}`));
      try {
        const reply = await downloadVerified(server.port, '/v2/a/blobs/x', {});
        expect(reply.status).toBe(404);
        expect(reply.errorBody?.toString()).toBe(error);
      } finally {
        await server.close();
      }
    });

    it.each([
      ['a chunked body', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n', /Transfer-Encoding: chunked/],
      ['a body without Content-Length', 'HTTP/1.1 200 OK\r\n\r\nhello', /expected a Content-Length, got none/],
      ['a body that ends early', 'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello', /closed after 5 of 10 body bytes/],
      ['more bytes than announced', 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nhello', /more body bytes than the 3 announced/],
      ['something that is not HTTP', 'SSH-2.0-OpenSSH\r\n\r\n', /not an HTTP\/1\.x status line/],
    ])('refuses %s', async (_what, response, message) => {
      const server = await serve((socket) => socket.end(response));
      try {
        await expect(downloadVerified(server.port, '/x', {})).rejects.toThrow(message);
      } finally {
        await server.close();
      }
    });
  });

  describe('load generator', () => {
    let server: http.Server;
    let client: RegistryClient;
    const seen = { hosts: new Set<string>(), accepts: new Set<string>(), connections: 0 };
    let served = 0;
    beforeAll(async () => {
      server = http.createServer((req, res) => {
        seen.hosts.add(req.headers.host ?? '');
        seen.accepts.add(req.headers.accept ?? '');
        served += 1;
        if (req.url === '/v2/') return void res.end('{}');
        if (req.url === '/ok') return void res.writeHead(200, { 'content-length': 5 }).end(req.method === 'HEAD' ? undefined : 'hello');
        if (req.url === '/flaky') return void res.writeHead(served % 2 ? 500 : 200, { 'content-length': 2 }).end('{}');
        if (req.url === '/close') return void res.writeHead(200, { 'content-length': 2, connection: 'close' }).end('{}');
        if (req.url === '/hang') return; // never answers
        if (req.url === '/chunked') {
          res.writeHead(200, { 'transfer-encoding': 'chunked' });
          return void res.end('hello');
        }
        res.writeHead(404, { 'content-length': 0 }).end();
      });
      server.on('connection', () => (seen.connections += 1));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const port = (server.address() as net.AddressInfo).port;
      client = new RegistryClient({ label: 'Distribution', port, host: `load.test:${port}`, credentials: undefined, pid: 0, authDescription: '' });
    });
    afterAll(async () => {
      client.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });

    it('counts answered GETs and HEADs on keep-alive connections, sending Host and Accept', async () => {
      seen.connections = 0;
      const get = await runLoad(client, 'GET', '/ok', undefined, { clients: 4, seconds: 0.3, accept: 'application/x-test' });
      const head = await runLoad(client, 'HEAD', '/ok', undefined, { clients: 4, seconds: 0.3 });
      for (const result of [get, head]) {
        expect(result.errors).toBe(0);
        expect(result.requests).toBeGreaterThan(50);
        expect(result.p99Ms).toBeGreaterThanOrEqual(result.p50Ms);
      }
      expect(seen.connections).toBeLessThanOrEqual(8 + 1); // one per client and run (+ the /v2/ probe), not one per request
      expect([...seen.hosts]).toContain(client.target.host);
      expect([...seen.accepts]).toContain('application/x-test');
    });

    it('counts answers other than 200 as errors, and reconnects when the server closes', async () => {
      const flaky = await runLoad(client, 'GET', '/flaky', undefined, { clients: 1, seconds: 0.3 });
      expect(flaky.errors).toBeGreaterThan(10);
      expect(Math.abs(flaky.errors - flaky.requests)).toBeLessThanOrEqual(2);
      const closing = await runLoad(client, 'GET', '/close', undefined, { clients: 2, seconds: 0.3 });
      expect(closing).toMatchObject({ errors: 0 });
      expect(closing.requests).toBeGreaterThan(20);
    });

    it('sends a request again when the keep-alive connection it reused had been closed by the server', async () => {
      expect((await client.raw('GET', '/ok')).status).toBe(200); // leaves a free socket in the agent
      server.closeAllConnections(); // the server drops it; the client has not seen that yet
      const before = client.staleConnectionRetries;
      const reply = await client.raw('GET', '/ok');
      expect(reply.status).toBe(200);
      expect(client.staleConnectionRetries).toBe(before + 1);
      expect(reply.body.toString()).toBe('hello');
    });

    it('gives up on a server that stops answering instead of hanging', async () => {
      const started = performance.now();
      const hung = await runLoad(client, 'GET', '/hang', undefined, { clients: 2, seconds: 0.2, answerTimeoutMs: 300 });
      expect(hung).toMatchObject({ requests: 0, errors: 2 });
      expect(performance.now() - started).toBeLessThan(3000);
    });

    it('counts a body whose end it cannot tell (chunked) as an error, never as an answer', async () => {
      const chunked = await runLoad(client, 'GET', '/chunked', undefined, { clients: 2, seconds: 0.2 });
      expect(chunked.requests).toBe(0);
      expect(chunked.errors).toBeGreaterThan(0);
    });
  });

  it('measures the machine limits, the trivial server serving verified downloads of the exact size asked', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'bench-limits-'));
    const cleanup = new Cleanup(() => undefined);
    try {
      const limits = await measureLimits(dir, { hash: 4 * 1024 * 1024, disk: 4 * 1024 * 1024, http: 3 * 1024 * 1024 + 5, clients: 2, seconds: 0.3 }, cleanup);
      for (const [name, value] of Object.entries(limits)) expect({ name, positive: Number.isFinite(value) && value > 0 }).toEqual({ name, positive: true });
    } finally {
      await cleanup.run();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('judges targets from medians, in the right direction for each metric', () => {
    const samples = new Samples();
    for (const [berth, distribution] of [[300, 100], [310, 90], [290, 110]]) {
      samples.add('push.mono', 'Berth', berth!);
      samples.add('push.mono', 'Distribution', distribution!);
    }
    samples.add('manifest.p99', 'Berth', 30);
    samples.add('manifest.p99', 'Distribution', 10);
    const rows = summarise(samples, { sha256MiBps: 1000, diskWriteMiBps: 400, loopbackHttpMiBps: 800, verifiedDownloadMiBps: 600, loopbackRequestsPerSecond: 5000 }, sizesFor(1));
    const push = rows.find((r) => r.metric.id === 'push.mono')!;
    expect(push.ratio).toBeCloseTo(3);
    expect(push.fractionOfLimit).toBeCloseTo(0.75); // 300 of the 400 MiB/s disk
    const p99 = rows.find((r) => r.metric.id === 'manifest.p99')!;
    expect(p99.berthWins).toBe(false);
    const checks = checkTargets(rows, sizesFor(1));
    expect(checks.find((c) => c.target.startsWith('Monolithic push, 256 MiB (POST + PUT): ≥ 1.2×'))?.met).toBe(true);
    expect(checks.find((c) => c.target.startsWith('Manifest GET latency p99'))?.met).toBe(false);
    expect(checks.find((c) => c.target.startsWith('skopeo copy in'))?.met).toBeUndefined();
    // A pull is measured against min(sha256, loopback upload); the verified download is context only.
    samples.add('pull', 'Berth', 480);
    samples.add('pull', 'Distribution', 400);
    const pull = summarise(samples, { sha256MiBps: 1000, diskWriteMiBps: 400, loopbackHttpMiBps: 800, verifiedDownloadMiBps: 600, loopbackRequestsPerSecond: 5000 }, sizesFor(1)).find(
      (r) => r.metric.id === 'pull',
    )!;
    expect(pull.fractionOfLimit).toBeCloseTo(0.6); // 480 of the 800 MiB/s loopback upload
    expect(() => samples.add('no.such.metric', 'Berth', 1)).toThrow(/unknown metric/);
  });
});

describe('disk next to the pushes', () => {
  it('writes the bytes over the files asked for, fsynced, and keeps them', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'bench-disk-'));
    try {
      const mibps = await writeAndSync(dir, 'r1-push-parallel', 5 * 1024 * 1024 + 3, 4);
      expect(Number.isFinite(mibps) && mibps > 0).toBe(true);
      const files = (await readdir(dir)).sort();
      expect(files).toEqual(['r1-push-parallel-0.bin', 'r1-push-parallel-1.bin', 'r1-push-parallel-2.bin', 'r1-push-parallel-3.bin']);
      const sizes = await Promise.all(files.map(async (name) => (await stat(path.join(dir, name))).size));
      expect(sizes.reduce((a, b) => a + b, 0)).toBe(5 * 1024 * 1024 + 3);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('judges a push against the disk measured next to it, when there is one', () => {
    const limits = { sha256MiBps: 1000, diskWriteMiBps: 1500, loopbackHttpMiBps: 800, verifiedDownloadMiBps: 600, loopbackRequestsPerSecond: 5000 };
    const samples = new Samples();
    samples.add('push.mono', 'Berth', 300);
    samples.add('push.mono', 'Distribution', 200);
    samples.add('push.chunked', 'Berth', 300);
    samples.add('push.chunked', 'Distribution', 200);
    for (const mibps of [500, 250, 400]) samples.addDiskNextToPush('push.mono', mibps);
    const rows = summarise(samples, limits, sizesFor(1));
    // Median of the writes next to it (400), not the start-of-run probe (1,500) nor sha256 (1,000).
    expect(rows.find((r) => r.metric.id === 'push.mono')!.fractionOfLimit).toBeCloseTo(0.75);
    // No write next to the chunked push: the loopback upload (800) is the tightest.
    expect(rows.find((r) => r.metric.id === 'push.chunked')!.fractionOfLimit).toBeCloseTo(0.375);
    const report = markdownReport(rows, samples, { date: new Date(0), sizes: sizesFor(1), machine: [], settings: [], limits, durationSeconds: 1 });
    expect(report).toContain('disk write next to it (400 MiB/s)');
    expect(report).toContain('(rounds: 500, 250, 400)');
    expect(() => samples.addDiskNextToPush('no.such.metric', 1)).toThrow(/unknown metric/);
  });
});

const cpuMs = (usage: NodeJS.CpuUsage) => (usage.user + usage.system) / 1000;

describe('server CPU accounting', () => {
  it('counts the CPU a process burns and finds the postgres processes', () => {
    const before = cpuSeconds([process.pid])!;
    // Burn 150 ms of CPU as the process itself counts it (not of wall time: a busy machine may preempt us).
    const start = process.cpuUsage();
    let spin = 0;
    while (cpuMs(process.cpuUsage(start)) < 150) spin += Math.sqrt(spin + 1);
    expect(spin).toBeGreaterThan(0);
    // /proc counts user and system time in 10 ms ticks each: at least 130 ms of the 150 show there.
    expect(cpuSeconds([process.pid])! - before).toBeGreaterThanOrEqual(0.12);
    expect(cpuSeconds([2 ** 22 + 12345])).toBe(0); // a pid that does not exist counts nothing
    expect(pidsNamed('postgres').length).toBeGreaterThan(0);
  });

  it('counts how busy all cores were: a core kept spinning shows, and the share stays within 0–100%', () => {
    const cores = cpus().length;
    const before = machineCpuTicks()!;
    const start = process.cpuUsage();
    let spin = 0;
    while (cpuMs(process.cpuUsage(start)) < 200) spin += Math.sqrt(spin + 1);
    expect(spin).toBeGreaterThan(0);
    const after = machineCpuTicks()!;
    // This process alone kept one core busy for the whole stretch (less what /proc's 10 ms ticks and preemption shave off).
    expect(after.busy - before.busy).toBeGreaterThanOrEqual(15);
    const busy = busyPercent(before, after)!;
    expect(busy).toBeGreaterThanOrEqual(Math.min(100, (100 / cores) * 0.75));
    expect(busy).toBeLessThanOrEqual(100);
    expect(busyPercent(after, after)).toBeUndefined(); // no time passed: no share
  });
});

/** Settings of a one-round run at 1% scale that logs into `lines`. */
function oneTinyRound(lines: string[], settings: Pick<BenchSettings, 'workloads' | 'measureLimits' | 'sizeOverrides'>): BenchSettings {
  return { rounds: 1, scale: 0.01, resultsPath: undefined, cpuProfileDir: undefined, berthLogLevel: 'warn', berthNodeFlags: [], log: (line) => lines.push(line), ...settings };
}

describe('disk space', () => {
  it('counts what every workload keeps, both registries and the writes next to the pushes', () => {
    const sizes = sizesFor(1);
    const gib = 1024 ** 3;
    // Two registries × 256 MiB, plus the 256 MiB written next to them, plus a tenth and 1 GiB.
    expect(diskSpaceNeeded(['push-mono'], sizes, 1, true)).toBe(Math.ceil(3 * 256 * 1024 * 1024 * 1.1) + gib);
    expect(diskSpaceNeeded(['push-mono'], sizes, 2, false)).toBe(Math.ceil(2 * 2 * 256 * 1024 * 1024 * 1.1) + gib);
    // A pull without the monolithic push pushes its own blob first.
    expect(diskSpaceNeeded(['pull'], sizes, 1, false)).toBe(diskSpaceNeeded(['push-mono'], sizes, 1, false));
    expect(diskSpaceNeeded(['manifest-get'], sizes, 3, true)).toBe(gib);
    // 20 × 16 MiB per registry per round, the same written next to them, and one unmeasured burst per registry.
    const burst = 20 * 16 * 1024 * 1024;
    expect(diskSpaceNeeded(['push-parallel'], sizes, 2, true)).toBe(Math.ceil((2 * 3 * burst + 2 * burst) * 1.1) + gib);
  });

  it('refuses to start a run the file system has no room for, before starting anything', async () => {
    const lines: string[] = [];
    const run = runBench(oneTinyRound(lines, { workloads: ['push-mono'], measureLimits: false, sizeOverrides: { bigBlob: 2 ** 53 } }));
    await expect(run).rejects.toThrow(/the bench needs about \d+\.\d GiB free in .* for this run's blobs, and \d+\.\d GiB is free/);
    expect(lines.filter((l) => l.startsWith('•'))).toEqual([]);
  });
});

describe('runBench (smoke, tiny sizes, one round)', () => {
  it('measures both registries and cleans up everything it started', async () => {
    const lines: string[] = [];
    const outcome = await runBench(
      oneTinyRound(lines, {
        workloads: ['push-mono', 'pull', 'manifest-get'],
        measureLimits: true,
        sizeOverrides: { loadSeconds: 0.5, loadClients: 8, limitHashBytes: 4 * 1024 * 1024, limitDiskBytes: 4 * 1024 * 1024, limitHttpBytes: 4 * 1024 * 1024 },
      }),
    );

    expect(outcome.rows.map((r) => r.metric.id)).toEqual([
      'push.mono',
      'pull',
      'manifest.rps',
      'manifest.p50',
      'manifest.p99',
      'rss.mono.big',
      'rss.growth.big',
      'cpu.push.mono',
      'cpu.pull',
      'busy.push.mono',
      'busy.pull',
    ]);
    for (const row of outcome.rows) {
      expect(row.samples.Berth).toHaveLength(1);
      expect(row.samples.Distribution).toHaveLength(1);
      if (row.metric.id.startsWith('cpu.')) {
        // CPU time comes in 10 ms ticks: a tiny push may cost none.
        for (const value of [row.berth, row.distribution]) expect(value).toBeGreaterThanOrEqual(0);
        continue;
      }
      if (row.metric.id.startsWith('busy.')) {
        // Share of all cores busy while the transfer ran: a fraction of a tick's worth may round to 0.
        for (const value of [row.berth, row.distribution]) expect(value).toBeGreaterThanOrEqual(0);
        for (const value of [row.berth, row.distribution]) expect(value).toBeLessThanOrEqual(100);
        continue;
      }
      if (row.metric.id === 'rss.growth.big') continue; // may be 0, so no finite ratio
      expect(row.berth).toBeGreaterThan(0);
      expect(row.distribution).toBeGreaterThan(0);
      expect(Number.isFinite(row.ratio)).toBe(true);
    }
    expect(outcome.table).toMatch(/Monolithic push, 2\.56 MiB \(POST \+ PUT\)\s+MiB\/s\s+[\d.]+\s+[\d.]+\s+[\d.]+/);
    expect(outcome.markdown).toContain('| Manifest GET by tag, 8 clients | req/s |');
    expect(outcome.markdown).toMatch(/Berth auth:\*\* on \(Docker token flow/);
    // The monolithic push was also written as a plain file between the registries, and judged against it.
    expect(lines.some((l) => /push-mono\s+disk\s+[\d.]+ MiB\/s \(write \+ fsync of the same bytes in 1 file\(s\)\)/.test(l))).toBe(true);
    expect(outcome.samples.diskNextToPush.get('push.mono')).toHaveLength(1);
    expect(outcome.markdown).toMatch(/\*\*Disk:\*\* `sync` before every measurement.*then the clean page cache is dropped/);
    expect(outcome.markdown).toMatch(/\| Monolithic push, 2\.56 MiB \(POST \+ PUT\) \| [\d.]+ MiB\/s \| (disk write next to it|sha256|loopback HTTP) \(\d+ MiB\/s\) \| \d+% \| \d+% \|/);
    expect(outcome.markdown).toMatch(/\| All cores busy during the monolithic push \(bench client, registry, database, kernel\) \| % busy \| \d+ \| \d+ \| (?:[\d.]+|n\/a) \| context \| — \|/);
    // Berth really made the client go through the token endpoint.
    expect(outcome.samples.notes.some((n) => /Berth: the client fetched [1-9]\d* access token/.test(n))).toBe(true);

    // Nothing left behind: processes, work dir, database.
    for (const pid of outcome.started.pids) expect(existsSync(`/proc/${pid}`)).toBe(false);
    expect(existsSync(outcome.started.workDir)).toBe(false);
    const pg = new Client({ connectionString: 'postgresql://postgres@127.0.0.1:5432/postgres' });
    await pg.connect();
    try {
      const left = await pg.query('SELECT 1 FROM pg_database WHERE datname = $1', [outcome.started.databaseName]);
      expect(left.rowCount).toBe(0);
    } finally {
      await pg.end();
    }
  }, 60_000);
});
