import { DomainException, DomainExceptionDetails } from '../common/domain-exception';

export enum RegistryExceptionCode {
  NotFound = 'REGISTRY_NOT_FOUND',
  NameTaken = 'REGISTRY_NAME_TAKEN',
  Deleting = 'REGISTRY_DELETING',
  SkuLimitsExceeded = 'REGISTRY_SKU_LIMITS_EXCEEDED',
}

export class RegistryException extends DomainException<RegistryExceptionCode> {
  constructor(code: RegistryExceptionCode, message: string, details?: DomainExceptionDetails) {
    super(code, message, details);
  }

  static notFound(name: string): RegistryException {
    return new RegistryException(RegistryExceptionCode.NotFound, `The registry ${name} does not exist.`);
  }

  static deleting(name: string): RegistryException {
    return new RegistryException(
      RegistryExceptionCode.Deleting,
      `The registry ${name} is being deleted; it cannot be changed.`,
    );
  }
}
