import { ArgumentsHost, Catch, ExceptionFilter } from '@nestjs/common';
import type { HttpRequest, HttpResponse } from './http-types';
import type { ProblemResponder } from './problem-responder';

/** Global filter: every error leaves the app as RFC 9457 problem details. */
@Catch()
export class ProblemDetailsFilter implements ExceptionFilter {
  constructor(private readonly responder: ProblemResponder) {}

  catch(exception: unknown, host: ArgumentsHost): void {
    const http = host.switchToHttp();
    this.responder.respond(exception, http.getRequest<HttpRequest>(), http.getResponse<HttpResponse>());
  }
}
