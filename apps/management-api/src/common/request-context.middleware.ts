import { randomUUID } from 'node:crypto';
import type { HttpRequest, HttpResponse, NextFunction } from './http-types';
import type { Logger } from './logger';
import type { HttpMetrics } from './metrics';

const REQUEST_ID_HEADER = 'x-request-id';
/** A caller's id is kept only when it is short and harmless to echo and log. */
const ACCEPTABLE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * First middleware of the chain: gives every request a correlation id (the
 * caller's X-Request-Id when acceptable), echoes it, and on completion writes
 * one JSON log line and the request metrics. The route label is the matched
 * route template, never the raw path, so metrics stay low-cardinality.
 */
export function requestContextMiddleware(logger: Logger, metrics: HttpMetrics) {
  return (req: HttpRequest, res: HttpResponse, next: NextFunction): void => {
    const started = process.hrtime.bigint();
    const offered = req.headers[REQUEST_ID_HEADER];
    const requestId = typeof offered === 'string' && ACCEPTABLE_REQUEST_ID.test(offered) ? offered : randomUUID();
    req.requestId = requestId;
    res.setHeader('X-Request-Id', requestId);

    res.on('finish', () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const route = req.route?.path ? `${req.baseUrl ?? ''}${req.route.path}` : 'unmatched';
      metrics.observe(req.method, route, res.statusCode, seconds);
      logger.info(
        {
          requestId,
          method: req.method,
          path: req.originalUrl.split('?')[0],
          route,
          status: res.statusCode,
          durationMs: Math.round(seconds * 1000 * 10) / 10,
        },
        'request',
      );
    });
    next();
  };
}
