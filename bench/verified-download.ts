// The pull workload's download: one GET on a connection of its own, read
// with a reused 1 MiB buffer (net's `onread`) and hashed as it arrives.
//
// Node's HTTP client hands every socket read (at most 64 KiB) to its parser,
// which allocates a fresh Buffer for it; at several hundred MiB/s that
// garbage kept the bench process in major GCs (measured: 0.4 ms of GC per MiB
// pulled, in a process holding the other workloads' state) and capped the
// pull at the client, the same for both registries. Reading into one buffer
// the way Go clients (containerd, skopeo) do leaves the client only the
// receive copy and sha256.
import { createHash } from 'node:crypto';
import * as net from 'node:net';

const READ_BUFFER_BYTES = 1024 * 1024;
/** A response head larger than this is refused (registries send a few hundred bytes). */
const MAX_HEAD_BYTES = 64 * 1024;

export interface VerifiedDownload {
  status: number;
  headers: Record<string, string>;
  /** Body bytes received (the whole Content-Length on 200). */
  bytes: number;
  /** `sha256:<hex>` of the body. */
  digest: string;
  /** The body itself, kept only for answers other than 200 (an error to report). */
  errorBody: Buffer | undefined;
}

/**
 * `GET path` to 127.0.0.1:port with the given headers, over HTTP/1.1 with
 * `Connection: close`; resolves once Content-Length body bytes have been
 * read. A response without Content-Length, a chunked one, one that ends
 * early or sends more than it announced is an error (registries announce
 * the length of a blob).
 */
export function downloadVerified(port: number, path: string, headers: Record<string, string>): Promise<VerifiedDownload> {
  return new Promise((resolve, reject) => {
    const buffer = Buffer.allocUnsafeSlow(READ_BUFFER_BYTES);
    const hash = createHash('sha256');
    let head: Buffer[] = [];
    let headBytes = 0;
    let response: { status: number; headers: Record<string, string>; length: number } | undefined;
    let received = 0;
    let errorChunks: Buffer[] | undefined;
    let settled = false;
    const fail = (error: Error) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      reject(error);
    };
    const finish = () => {
      settled = true;
      socket.destroy();
      resolve({
        status: response!.status,
        headers: response!.headers,
        bytes: received,
        digest: `sha256:${hash.digest('hex')}`,
        errorBody: errorChunks && Buffer.concat(errorChunks),
      });
    };
    const body = (chunk: Buffer) => {
      if (chunk.length === 0) return;
      if (received + chunk.length > response!.length) {
        fail(new Error(`GET ${path}: more body bytes than the ${response!.length} announced`));
        return;
      }
      hash.update(chunk);
      errorChunks?.push(Buffer.from(chunk)); // onread reuses the buffer: keep a copy
      received += chunk.length;
      if (received === response!.length) finish();
    };
    const readHead = (chunk: Buffer) => {
      head.push(Buffer.from(chunk)); // onread reuses the buffer: keep a copy
      headBytes += chunk.length;
      const all = Buffer.concat(head);
      const end = all.indexOf('\r\n\r\n');
      if (end < 0) {
        if (headBytes > MAX_HEAD_BYTES) fail(new Error(`GET ${path}: response head over ${MAX_HEAD_BYTES} bytes`));
        else head = [all];
        return;
      }
      try {
        response = parseHead(all.subarray(0, end).toString('latin1'));
      } catch (error) {
        fail(error instanceof Error ? error : new Error(String(error)));
        return;
      }
      if (response.status !== 200) errorChunks = [];
      if (response.length === 0) finish();
      else body(all.subarray(end + 4));
    };
    const socket = net.connect({
      host: '127.0.0.1',
      port,
      onread: {
        buffer,
        callback: (length: number, into: Uint8Array): boolean => {
          if (settled) return false; // stops reading
          const chunk = Buffer.from(into.buffer, into.byteOffset, length);
          if (response) body(chunk);
          else readHead(chunk);
          return !settled;
        },
      },
    });
    socket.once('connect', () => {
      const lines = [`GET ${path} HTTP/1.1`, ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`), 'Connection: close', '', ''];
      socket.write(lines.join('\r\n'));
    });
    socket.once('error', fail);
    socket.once('close', () => fail(new Error(`GET ${path}: connection closed after ${received} of ${response?.length ?? '?'} body bytes`)));
  });
}

function parseHead(text: string): { status: number; headers: Record<string, string>; length: number } {
  const [statusLine = '', ...lines] = text.split('\r\n');
  const status = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
  if (!status) throw new Error(`not an HTTP/1.x status line: ${statusLine.slice(0, 100)}`);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  if (headers['transfer-encoding']) throw new Error(`expected a Content-Length body, got Transfer-Encoding: ${headers['transfer-encoding']}`);
  const length = Number(headers['content-length']);
  if (headers['content-length'] === undefined || !Number.isSafeInteger(length) || length < 0) {
    throw new Error(`expected a Content-Length, got ${headers['content-length'] ?? 'none'}`);
  }
  return { status: Number(status[1]), headers, length };
}
