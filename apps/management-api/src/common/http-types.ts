/**
 * The few members of Express's request and response this app touches. The
 * workspace does not ship @types/express, and these narrow views also keep
 * handlers from depending on more of the framework than they need.
 */
export interface HttpRequest {
  method: string;
  originalUrl: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body?: unknown;
  route?: { path?: string };
  /** Path parameters of the matched route (set before guards run). */
  params?: Record<string, string | undefined>;
  baseUrl?: string;
  /** Set by the correlation-id middleware before anything else runs. */
  requestId?: string;
}

export interface HttpResponse {
  statusCode: number;
  headersSent: boolean;
  status(code: number): HttpResponse;
  setHeader(name: string, value: string | number | readonly string[]): unknown;
  getHeader(name: string): unknown;
  end(body?: string): unknown;
  on(event: 'finish' | 'close', listener: () => void): unknown;
}

export type NextFunction = (error?: unknown) => void;
