import type { NestExpressApplication } from '@nestjs/platform-express';
import { CommonException, CommonExceptionCode } from './common.exception';
import type { HttpRequest, HttpResponse, NextFunction } from './http-types';
import type { ProblemResponder } from './problem-responder';

export const MAX_BODY_BYTES = 1024 * 1024;
const JSON_TYPES = ['application/json', 'application/*+json'];
const METHODS_WITH_BODY = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

function hasBody(req: HttpRequest): boolean {
  const length = req.headers['content-length'];
  if (req.headers['transfer-encoding'] !== undefined) return true;
  return typeof length === 'string' && length !== '0';
}

function isJson(contentType: string | string[] | undefined): boolean {
  if (typeof contentType !== 'string') return false;
  const mediaType = contentType.split(';')[0]!.trim().toLowerCase();
  return mediaType === 'application/json' || /^application\/[a-z0-9.+-]+\+json$/.test(mediaType);
}

/**
 * JSON only, at most 1 MiB. A body in another media type is refused with 415
 * rather than silently ignored (curl -d sends form encoding unless told
 * otherwise). Parser failures are answered here as problem details, because
 * they happen before Nest's router and its exception filters.
 */
export function installBodyParsing(app: NestExpressApplication, responder: ProblemResponder): void {
  app.use((req: HttpRequest, res: HttpResponse, next: NextFunction) => {
    if (METHODS_WITH_BODY.has(req.method) && hasBody(req) && !isJson(req.headers['content-type'])) {
      responder.respond(
        new CommonException(CommonExceptionCode.UnsupportedMediaType, 'The request body must be application/json.'),
        req,
        res,
      );
      return;
    }
    next();
  });
  app.useBodyParser('json', { limit: MAX_BODY_BYTES, type: JSON_TYPES });
  app.use((error: unknown, req: HttpRequest, res: HttpResponse, _next: NextFunction) => {
    responder.respond(error, req, res);
  });
}
