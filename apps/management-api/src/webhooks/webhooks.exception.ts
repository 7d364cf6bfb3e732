import { DomainException, DomainExceptionDetails } from '../common/domain-exception';

export enum WebhookExceptionCode {
  NotFound = 'WEBHOOK_NOT_FOUND',
  NameTaken = 'WEBHOOK_NAME_TAKEN',
  LimitReached = 'WEBHOOK_LIMIT_REACHED',
}

export class WebhookException extends DomainException<WebhookExceptionCode> {
  constructor(code: WebhookExceptionCode, message: string, details?: DomainExceptionDetails) {
    super(code, message, details);
  }
}
