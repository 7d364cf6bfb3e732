import { DomainException, DomainExceptionDetails } from '../common/domain-exception';

export enum ServicePrincipalExceptionCode {
  NotFound = 'SERVICE_PRINCIPAL_NOT_FOUND',
  SecretNotFound = 'SERVICE_PRINCIPAL_SECRET_NOT_FOUND',
  RoleAssignmentNotFound = 'ROLE_ASSIGNMENT_NOT_FOUND',
  DisplayNameTaken = 'SERVICE_PRINCIPAL_DISPLAY_NAME_TAKEN',
  RoleAlreadyAssigned = 'ROLE_ALREADY_ASSIGNED',
  LimitReached = 'SERVICE_PRINCIPAL_LIMIT_REACHED',
}

export class ServicePrincipalException extends DomainException<ServicePrincipalExceptionCode> {
  constructor(code: ServicePrincipalExceptionCode, message: string, details?: DomainExceptionDetails) {
    super(code, message, details);
  }
}
