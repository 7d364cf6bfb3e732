import { DomainException } from '../common/domain-exception';

export enum CredentialExceptionCode {
  AdminUserDisabled = 'CREDENTIALS_ADMIN_USER_DISABLED',
}

export class CredentialException extends DomainException<CredentialExceptionCode> {
  constructor(code: CredentialExceptionCode, message: string) {
    super(code, message);
  }
}
