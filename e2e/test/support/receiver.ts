import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedRequest {
  method: string;
  /** Path and query as sent. */
  url: string;
  headers: http.IncomingHttpHeaders;
  /** The raw body, byte for byte (signatures are checked over it). */
  body: Buffer;
}

export interface ReceiverAnswer {
  status: number;
  body?: string;
}

/**
 * A webhook receiver on 127.0.0.1:0 that records every request. `respond`
 * decides each answer (default 200 "ok"); its second argument counts the
 * earlier requests to the same path.
 */
export interface Receiver {
  url: string;
  requests: ReceivedRequest[];
  respond: (request: ReceivedRequest, earlierOnPath: number) => ReceiverAnswer;
  /** The requests received on one path, in order. */
  on(path: string): ReceivedRequest[];
  close(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const request: ReceivedRequest = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) };
      const earlier = receiver.on(pathOf(request.url)).length;
      receiver.requests.push(request);
      const answer = receiver.respond(request, earlier);
      res.writeHead(answer.status, { 'content-type': 'text/plain' }).end(answer.body ?? '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const receiver: Receiver = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests: [],
    respond: () => ({ status: 200, body: 'ok' }),
    on: (path) => receiver.requests.filter((request) => pathOf(request.url) === path),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return receiver;
}

function pathOf(url: string): string {
  const question = url.indexOf('?');
  return question === -1 ? url : url.slice(0, question);
}
