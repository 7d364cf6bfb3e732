import type { HttpResponse } from './http-types';
import type { FieldError, LimitViolation } from './domain-exception';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** RFC 9457 problem details, with Berth's extension members. */
export interface ProblemDetails {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance: string;
  /** Stable machine-readable code (the domain exception's code). */
  code: string;
  errors?: FieldError[];
  limits?: LimitViolation[];
  /** Present on 500s: the same id is in the JSON log line of the failure. */
  correlationId?: string;
}

/** Problem types are URNs derived from the code, e.g. `urn:berth:problem:registry-not-found`. */
export function problemType(code: string): string {
  return `urn:berth:problem:${code.toLowerCase().replace(/_/g, '-')}`;
}

export function sendProblem(res: HttpResponse, problem: ProblemDetails, headers: Record<string, string> = {}): void {
  if (res.headersSent) return;
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  res.status(problem.status);
  res.setHeader('Content-Type', `${PROBLEM_CONTENT_TYPE}; charset=utf-8`);
  res.end(JSON.stringify(problem));
}
