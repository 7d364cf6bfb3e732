import * as http from 'node:http';
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

/**
 * `clients` concurrent loops issuing one request each at a time for
 * `seconds` over the client's keep-alive agent (after a short warm-up that
 * opens the connections). Only 200 answers count; anything else is an error.
 * The loop is kept lean (pre-built headers, bodies counted not kept) so the
 * load generator costs as little CPU as possible on a shared machine.
 */
export async function runLoad(
  client: RegistryClient,
  method: 'GET' | 'HEAD',
  path: string,
  scope: string | undefined,
  options: { clients: number; seconds: number; accept?: string },
): Promise<LoadResult> {
  const target = client.target;
  const makeHeaders = async (): Promise<http.OutgoingHttpHeaders> => {
    const authorization = await client.authorization(scope);
    return {
      host: target.host,
      ...(options.accept ? { accept: options.accept } : {}),
      ...(authorization ? { authorization } : {}),
    };
  };
  let headers = await makeHeaders();
  const once = (): Promise<number> =>
    new Promise((resolve) => {
      const req = http.request({ host: '127.0.0.1', port: target.port, method, path, headers, agent: client.agent }, (res) => {
        res.on('data', () => undefined);
        res.once('end', () => resolve(res.statusCode ?? 0));
        res.once('error', () => resolve(0));
      });
      req.once('error', () => resolve(0));
      req.end();
    });

  const latencies = new Float64Array(4_000_000);
  let count = 0;
  let errors = 0;
  let recording = false;
  let stopAt = 0;
  const loop = async (): Promise<void> => {
    while (Date.now() < stopAt) {
      const started = performance.now();
      const status = await once();
      if (!recording) continue;
      if (status === 200) {
        if (count < latencies.length) latencies[count] = performance.now() - started;
        count += 1;
      } else {
        errors += 1;
        // A token that expired mid-run: take a fresh one (counted as an error all the same).
        if (status === 401) headers = await makeHeaders();
      }
    }
  };

  stopAt = Date.now() + Math.min(1000, options.seconds * 200);
  await Promise.all(Array.from({ length: options.clients }, loop));
  headers = await makeHeaders();
  recording = true;
  const started = performance.now();
  stopAt = Date.now() + options.seconds * 1000;
  await Promise.all(Array.from({ length: options.clients }, loop));
  const elapsed = (performance.now() - started) / 1000;
  const sorted = latencies.subarray(0, Math.min(count, latencies.length)).sort();
  return {
    requests: count,
    errors,
    requestsPerSecond: count / elapsed,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
  };
}
