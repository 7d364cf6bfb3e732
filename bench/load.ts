import * as net from 'node:net';
import type { RegistryClient } from './registry-client';

export interface LoadResult {
  requests: number;
  errors: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
}

export function percentile(sorted: Float64Array | number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index]!;
}

/** How long after a phase's end an unanswered request is given up. */
const ANSWER_TIMEOUT_MS = 10_000;

/** A response head larger than this is a protocol error (registries send well under 4 KiB). */
const MAX_HEAD_BYTES = 64 * 1024;

/**
 * One keep-alive HTTP/1.1 connection sending one request at a time and
 * reading just enough of each response to know where it ends (status line,
 * Content-Length; HEAD answers have no body). Node's http client cost the
 * bench process more CPU per request than the registries' own work, so the
 * load generator, not the registry, set the ceiling; this is the loop a
 * load tool like wrk runs. Chunked bodies are not expected from these
 * endpoints and count as errors (the connection is dropped and reopened).
 */
class LoadConnection {
  private socket: net.Socket | undefined;
  private head: Buffer | undefined;
  private bodyLeft = -1;
  private closeAfter = false;
  private status = 0;
  private onDone: ((status: number) => void) | undefined;

  constructor(
    private readonly port: number,
    private readonly headOnly: boolean,
  ) {}

  /** Sends `request` and resolves with the response's status (0 for a broken exchange). */
  send(request: Buffer, done: (status: number) => void): void {
    this.onDone = done;
    this.head = undefined;
    this.bodyLeft = -1;
    this.closeAfter = false;
    if (!this.socket || this.socket.destroyed) this.open();
    this.socket!.write(request);
  }

  close(): void {
    this.socket?.destroy();
    this.socket = undefined;
  }

  /** Closes the connection and ends the request in flight, if any, as broken. */
  abort(): void {
    this.broken();
  }

  private open(): void {
    const socket = net.connect({ host: '127.0.0.1', port: this.port, noDelay: true });
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('error', () => undefined); // 'close' follows
    socket.on('close', () => {
      // A socket already replaced (dropped after a broken exchange) must not end the next one's request.
      if (this.socket !== socket) return;
      this.socket = undefined;
      this.finish(0);
    });
    this.socket = socket;
  }

  private receive(chunk: Buffer): void {
    if (!this.onDone) return this.broken(); // bytes nobody asked for
    if (this.bodyLeft < 0) {
      const all = this.head ? Buffer.concat([this.head, chunk]) : chunk;
      const end = all.indexOf('\r\n\r\n');
      if (end < 0) {
        if (all.length > MAX_HEAD_BYTES) return this.broken();
        this.head = all;
        return;
      }
      // A few regexes over the head instead of a full header parse (as
      // verified-download.ts does once per pull): splitting every head into
      // a header map cost this loop ~10% of its requests/s.
      const text = all.toString('latin1', 0, end);
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      const length = /\r\ncontent-length:[ \t]*(\d+)/i.exec(text);
      if (!status || /\r\ntransfer-encoding:/i.test(text)) return this.broken();
      this.status = Number(status[1]);
      this.closeAfter = /\r\nconnection:[ \t]*close/i.test(text);
      this.bodyLeft = this.headOnly || this.status === 204 || this.status === 304 ? 0 : length ? Number(length[1]) : -1;
      if (this.bodyLeft < 0) return this.broken(); // a body whose end we cannot know
      chunk = all.subarray(end + 4);
    }
    if (chunk.length > this.bodyLeft) return this.broken();
    this.bodyLeft -= chunk.length;
    if (this.bodyLeft > 0) return;
    if (this.closeAfter) this.close(); // the server ends the connection: the next request opens another
    this.finish(this.status);
  }

  private broken(): void {
    this.close();
    this.finish(0);
  }

  private finish(status: number): void {
    const done = this.onDone;
    this.onDone = undefined;
    this.bodyLeft = -1;
    done?.(status);
  }
}

/**
 * `clients` concurrent connections, each issuing one request at a time for
 * `seconds` (after a short warm-up that opens the connections). Only 200
 * answers count; anything else is an error. The loop is kept lean
 * (pre-built request bytes, responses parsed only as far as their length)
 * so the load generator costs as little CPU as possible on a shared machine.
 */
export async function runLoad(
  client: RegistryClient,
  method: 'GET' | 'HEAD',
  path: string,
  scope: string | undefined,
  options: { clients: number; seconds: number; accept?: string; answerTimeoutMs?: number },
): Promise<LoadResult> {
  const target = client.target;
  const makeRequest = async (): Promise<Buffer> => {
    const authorization = await client.authorization(scope);
    const lines = [`${method} ${path} HTTP/1.1`, `Host: ${target.host}`];
    if (options.accept) lines.push(`Accept: ${options.accept}`);
    if (authorization) lines.push(`Authorization: ${authorization}`);
    return Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
  };
  let request = await makeRequest();
  const connections = Array.from({ length: options.clients }, () => new LoadConnection(target.port, method === 'HEAD'));

  const latencies = new Float64Array(4_000_000);
  let count = 0;
  let errors = 0;
  let recording = false;
  let stopAt = 0;
  let refreshing: Promise<void> | undefined;
  const loop = (connection: LoadConnection): Promise<void> =>
    new Promise((resolve) => {
      const next = (): void => {
        if (Date.now() >= stopAt) return resolve();
        const started = performance.now();
        connection.send(request, (status) => {
          if (recording) {
            if (status === 200) {
              if (count < latencies.length) latencies[count] = performance.now() - started;
              count += 1;
            } else {
              errors += 1;
              // A token that expired mid-run: take a fresh one (counted as an error all the same).
              if (status === 401) {
                refreshing ??= makeRequest().then((fresh) => {
                  request = fresh;
                  refreshing = undefined;
                });
                return void refreshing.then(next, next);
              }
            }
          }
          // Synchronous answers cannot happen (socket data arrives on later ticks), so this does not recurse.
          next();
        });
      };
      next();
    });

  // A phase ends when every connection has had its last answer; a server
  // that stops answering gets its connections closed (those requests count
  // as errors) instead of hanging the bench.
  const phase = async (ms: number): Promise<void> => {
    stopAt = Date.now() + ms;
    const watchdog = setTimeout(() => connections.forEach((connection) => connection.abort()), ms + (options.answerTimeoutMs ?? ANSWER_TIMEOUT_MS));
    try {
      await Promise.all(connections.map(loop));
    } finally {
      clearTimeout(watchdog);
    }
  };
  try {
    await phase(Math.min(1000, options.seconds * 200));
    request = await makeRequest();
    recording = true;
    const started = performance.now();
    await phase(options.seconds * 1000);
    const elapsed = (performance.now() - started) / 1000;
    const sorted = latencies.subarray(0, Math.min(count, latencies.length)).sort();
    return {
      requests: count,
      errors,
      requestsPerSecond: count / elapsed,
      p50Ms: percentile(sorted, 50),
      p99Ms: percentile(sorted, 99),
    };
  } finally {
    for (const connection of connections) connection.close();
  }
}
