import { DomainException } from '../common/domain-exception';

export enum RepositoryExceptionCode {
  NotFound = 'REPOSITORY_NOT_FOUND',
  Locked = 'REPOSITORY_LOCKED',
  Busy = 'REPOSITORY_BUSY',
}

export class RepositoryException extends DomainException<RepositoryExceptionCode> {
  constructor(code: RepositoryExceptionCode, message: string) {
    super(code, message);
  }
}
