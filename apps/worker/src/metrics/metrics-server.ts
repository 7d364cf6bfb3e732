import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { WorkerMetrics } from './worker-metrics';

export interface HealthProbe {
  /** Liveness: the process runs its loops (false while stopping). */
  live(): boolean;
  /** Readiness: Postgres and Redis answer. */
  ready(): Promise<{ ok: boolean; checks: Record<string, string> }>;
}

/**
 * The worker has no API, so a bare node:http server carries its operational
 * endpoints: /metrics (Prometheus text), /healthz (liveness), /readyz.
 */
export class MetricsServer {
  private server: http.Server | undefined;

  constructor(
    private readonly metrics: WorkerMetrics,
    private readonly health: HealthProbe,
  ) {}

  async listen(port: number, host: string): Promise<number> {
    const server = http.createServer((req, res) => {
      void this.handle(req, res).catch(() => {
        if (!res.headersSent) res.writeHead(500);
        res.end();
      });
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    return (server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/metrics') {
      const body = await this.metrics.registry.metrics();
      res.writeHead(200, { 'Content-Type': this.metrics.registry.contentType }).end(body);
      return;
    }
    if (path === '/healthz') {
      const live = this.health.live();
      res.writeHead(live ? 200 : 503, { 'Content-Type': 'application/json' }).end(JSON.stringify({ status: live ? 'ok' : 'stopping' }));
      return;
    }
    if (path === '/readyz') {
      const { ok, checks } = await this.health.ready();
      res.writeHead(ok ? 200 : 503, { 'Content-Type': 'application/json' }).end(JSON.stringify({ status: ok ? 'ok' : 'unavailable', checks }));
      return;
    }
    res.writeHead(404, { 'Content-Type': 'application/json' }).end(JSON.stringify({ status: 'not found' }));
  }
}
