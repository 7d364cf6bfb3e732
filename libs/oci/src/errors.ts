/**
 * The one table of registry error codes: the OCI Distribution Spec's codes
 * (code-1 … code-14) plus the few Docker Registry v2 codes clients still
 * understand. Handlers throw `OciError(code)`; the status comes from here, so
 * no handler picks an HTTP status by hand (an explicit override exists for the
 * spec's few code/status pairings such as 413 or 416).
 */
export const OCI_ERROR_CODES = {
  BLOB_UNKNOWN: { status: 404, message: 'blob unknown to registry' },
  BLOB_UPLOAD_INVALID: { status: 400, message: 'blob upload invalid' },
  BLOB_UPLOAD_UNKNOWN: { status: 404, message: 'blob upload unknown to registry' },
  DIGEST_INVALID: { status: 400, message: 'provided digest did not match uploaded content' },
  MANIFEST_BLOB_UNKNOWN: { status: 400, message: 'manifest references a manifest or blob unknown to registry' },
  MANIFEST_INVALID: { status: 400, message: 'manifest invalid' },
  MANIFEST_UNKNOWN: { status: 404, message: 'manifest unknown to registry' },
  NAME_INVALID: { status: 400, message: 'invalid repository name' },
  NAME_UNKNOWN: { status: 404, message: 'repository name not known to registry' },
  SIZE_INVALID: { status: 400, message: 'provided length did not match content length' },
  TAG_INVALID: { status: 400, message: 'manifest tag did not match URI' },
  UNAUTHORIZED: { status: 401, message: 'authentication required' },
  DENIED: { status: 403, message: 'requested access to the resource is denied' },
  UNSUPPORTED: { status: 405, message: 'the operation is unsupported' },
  TOOMANYREQUESTS: { status: 429, message: 'too many requests' },
  RANGE_INVALID: { status: 416, message: 'invalid content range' },
  PAGINATION_NUMBER_INVALID: { status: 400, message: 'invalid number of results requested' },
  /** Not in the spec: a malformed body or query parameter of the ACR extension API (`/acr/v1`), e.g. a bad `orderby`. */
  BAD_REQUEST: { status: 400, message: 'bad request' },
  UNKNOWN: { status: 500, message: 'unknown error' },
  UNAVAILABLE: { status: 503, message: 'service unavailable' },
} as const satisfies Record<string, { status: number; message: string }>;

export type OciErrorCode = keyof typeof OCI_ERROR_CODES;

export interface OciErrorOptions {
  /** Replaces the table's generic message (e.g. to name the limit that was hit). */
  message?: string;
  /** Free-form JSON the spec allows in `detail`. */
  detail?: unknown;
  /** Only for the spec's documented pairings that differ from the table (413, 416, 405 …). */
  status?: number;
  /** Extra response headers, e.g. `Range` on a 416 or `Retry-After` on a 429. */
  headers?: Record<string, string>;
}

/** An error the registry reports to the client in the spec's JSON form. */
export class OciError extends Error {
  readonly status: number;
  readonly detail: unknown;
  readonly headers: Record<string, string>;

  constructor(
    readonly code: OciErrorCode,
    options: OciErrorOptions = {},
  ) {
    super(options.message ?? OCI_ERROR_CODES[code].message);
    this.name = 'OciError';
    this.status = options.status ?? OCI_ERROR_CODES[code].status;
    this.detail = options.detail;
    this.headers = options.headers ?? {};
  }

  /** The response body: `{"errors":[{"code","message","detail"}]}` (`detail` only when there is one). */
  toJSON(): { errors: Array<{ code: string; message: string; detail?: unknown }> } {
    const entry: { code: string; message: string; detail?: unknown } = { code: this.code, message: this.message };
    if (this.detail !== undefined) entry.detail = this.detail;
    return { errors: [entry] };
  }
}

export function isOciError(error: unknown): error is OciError {
  return error instanceof OciError;
}
