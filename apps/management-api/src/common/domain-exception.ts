/** One field's validation failure, as listed in a problem detail's `errors`. */
export interface FieldError {
  field: string;
  message: string;
}

/** A SKU limit a request would exceed (or a registry already exceeds). */
export interface LimitViolation {
  /** Limit name as in the usages endpoint: Size, Webhooks, ServicePrincipals, AnonymousPull, RetentionPolicy. */
  name: string;
  limit: number | boolean;
  currentValue: number | boolean;
  message: string;
}

export interface DomainExceptionDetails {
  errors?: FieldError[];
  limits?: LimitViolation[];
}

/**
 * Base of every feature's exception. Features never pick HTTP statuses: each
 * `<feature>.exception.ts` declares a string code enum, and the one mapping
 * function in problem-mapper.ts turns codes into problem details.
 */
export abstract class DomainException<Code extends string> extends Error {
  protected constructor(
    readonly code: Code,
    message: string,
    readonly details: DomainExceptionDetails = {},
  ) {
    super(message);
    this.name = new.target.name;
  }
}
