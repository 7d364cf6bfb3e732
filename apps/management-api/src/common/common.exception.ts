import { DomainException, DomainExceptionDetails, FieldError } from './domain-exception';

export enum CommonExceptionCode {
  ValidationFailed = 'VALIDATION_FAILED',
  MalformedJson = 'MALFORMED_JSON',
  PayloadTooLarge = 'PAYLOAD_TOO_LARGE',
  UnsupportedMediaType = 'UNSUPPORTED_MEDIA_TYPE',
  Unauthenticated = 'UNAUTHENTICATED',
  Forbidden = 'FORBIDDEN',
  RouteNotFound = 'ROUTE_NOT_FOUND',
  MethodNotAllowed = 'METHOD_NOT_ALLOWED',
  NotReady = 'NOT_READY',
}

export class CommonException extends DomainException<CommonExceptionCode> {
  constructor(code: CommonExceptionCode, message: string, details?: DomainExceptionDetails) {
    super(code, message, details);
  }

  static validation(errors: FieldError[]): CommonException {
    const fields = [...new Set(errors.map((e) => e.field))].join(', ');
    return new CommonException(CommonExceptionCode.ValidationFailed, `The request is invalid (${fields}).`, { errors });
  }

  static field(field: string, message: string): CommonException {
    return CommonException.validation([{ field, message }]);
  }
}
