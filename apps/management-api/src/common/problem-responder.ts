import { HttpException } from '@nestjs/common';
import { CommonException, CommonExceptionCode } from './common.exception';
import { DomainException } from './domain-exception';
import type { HttpRequest, HttpResponse } from './http-types';
import type { Logger } from './logger';
import { AnyDomainException, toProblem } from './problem-mapper';
import { ProblemDetails, problemType, sendProblem } from './problem';

/** Errors raised by Express's body parser carry a `type` like `entity.parse.failed`. */
interface BodyParserError {
  type: string;
  status?: number;
}

function isBodyParserError(error: unknown): error is BodyParserError {
  return typeof error === 'object' && error !== null && typeof (error as { type?: unknown }).type === 'string' &&
    typeof (error as { status?: unknown }).status === 'number';
}

/**
 * Turns anything thrown while serving a request into a problem details
 * response. Domain exceptions go through the one mapping function; the
 * framework's own errors (unknown route, body parser) are first translated to
 * common domain exceptions; everything else is a 500 whose correlation id is
 * logged with the error.
 */
export class ProblemResponder {
  constructor(private readonly logger: Logger) {}

  respond(error: unknown, req: HttpRequest, res: HttpResponse): void {
    const instance = req.originalUrl.split('?')[0] ?? '/';
    const known = this.asDomainException(error, req);
    if (known) {
      const { problem, headers } = toProblem(known, instance);
      sendProblem(res, problem, headers);
      return;
    }
    const correlationId = req.requestId ?? 'unknown';
    this.logger.error(
      { correlationId, requestId: correlationId, method: req.method, path: instance, err: error },
      'unexpected error',
    );
    const problem: ProblemDetails = {
      type: problemType('INTERNAL_ERROR'),
      title: 'Internal server error',
      status: 500,
      detail: `An unexpected error occurred. Quote correlation id ${correlationId} when reporting it.`,
      instance,
      code: 'INTERNAL_ERROR',
      correlationId,
    };
    sendProblem(res, problem);
  }

  private asDomainException(error: unknown, req: HttpRequest): AnyDomainException | undefined {
    if (error instanceof DomainException) return error as AnyDomainException;
    if (error instanceof HttpException) {
      switch (error.getStatus()) {
        case 404:
          return new CommonException(
            CommonExceptionCode.RouteNotFound,
            `No resource at ${req.method} ${req.originalUrl.split('?')[0]}.`,
          );
        case 405:
          return new CommonException(CommonExceptionCode.MethodNotAllowed, `${req.method} is not allowed here.`);
        default:
          return undefined;
      }
    }
    if (isBodyParserError(error)) {
      switch (error.type) {
        case 'entity.parse.failed':
          return new CommonException(CommonExceptionCode.MalformedJson, 'The request body is not valid JSON.');
        case 'entity.too.large':
          return new CommonException(CommonExceptionCode.PayloadTooLarge, 'The request body exceeds 1 MiB.');
        case 'charset.unsupported':
        case 'encoding.unsupported':
          return new CommonException(
            CommonExceptionCode.UnsupportedMediaType,
            'The request body must be JSON in UTF-8, without content encoding.',
          );
        case 'request.aborted':
        case 'request.size.invalid':
          return new CommonException(CommonExceptionCode.MalformedJson, 'The request body was incomplete.');
        default:
          return undefined;
      }
    }
    return undefined;
  }
}
