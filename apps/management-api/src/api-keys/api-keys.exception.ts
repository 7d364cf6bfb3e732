import { DomainException } from '../common/domain-exception';

export enum ApiKeyExceptionCode {
  NotFound = 'API_KEY_NOT_FOUND',
}

export class ApiKeyException extends DomainException<ApiKeyExceptionCode> {
  constructor(code: ApiKeyExceptionCode, message: string) {
    super(code, message);
  }
}
