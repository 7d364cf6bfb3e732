import { ApiKeyException, ApiKeyExceptionCode } from '../api-keys/api-keys.exception';
import { CredentialException, CredentialExceptionCode } from '../credentials/credentials.exception';
import { RegistryException, RegistryExceptionCode } from '../registries/registries.exception';
import { RepositoryException, RepositoryExceptionCode } from '../repositories/repositories.exception';
import {
  ServicePrincipalException,
  ServicePrincipalExceptionCode,
} from '../service-principals/service-principals.exception';
import { WebhookException, WebhookExceptionCode } from '../webhooks/webhooks.exception';
import { assertUnreachable } from './assert-unreachable';
import { CommonException, CommonExceptionCode } from './common.exception';
import { ProblemDetails, problemType } from './problem';

export type AnyDomainException =
  | CommonException
  | RegistryException
  | CredentialException
  | ServicePrincipalException
  | WebhookException
  | RepositoryException
  | ApiKeyException;

export type AnyDomainExceptionCode = AnyDomainException['code'];

interface ProblemSpec {
  status: number;
  title: string;
  headers?: Record<string, string>;
}

/**
 * The one place that decides HTTP statuses for domain errors. The switch is
 * exhaustive over every feature's code enum, so adding a code without mapping
 * it does not compile.
 */
export function problemSpecFor(code: AnyDomainExceptionCode): ProblemSpec {
  switch (code) {
    case CommonExceptionCode.ValidationFailed:
      return { status: 400, title: 'Validation failed' };
    case CommonExceptionCode.MalformedJson:
      return { status: 400, title: 'Malformed JSON body' };
    case CommonExceptionCode.PayloadTooLarge:
      return { status: 413, title: 'Request body too large' };
    case CommonExceptionCode.UnsupportedMediaType:
      return { status: 415, title: 'Unsupported media type' };
    case CommonExceptionCode.Unauthenticated:
      return {
        status: 401,
        title: 'Authentication required',
        headers: { 'WWW-Authenticate': 'Bearer realm="berth-management"' },
      };
    case CommonExceptionCode.Forbidden:
      return { status: 403, title: 'Forbidden' };
    case CommonExceptionCode.RouteNotFound:
      return { status: 404, title: 'Not found' };
    case CommonExceptionCode.MethodNotAllowed:
      return { status: 405, title: 'Method not allowed' };
    case CommonExceptionCode.NotReady:
      return { status: 503, title: 'Not ready' };
    case RegistryExceptionCode.NotFound:
      return { status: 404, title: 'Registry not found' };
    case RegistryExceptionCode.NameTaken:
      return { status: 409, title: 'Registry name already in use' };
    case RegistryExceptionCode.Deleting:
      return { status: 409, title: 'Registry is being deleted' };
    case RegistryExceptionCode.SkuLimitsExceeded:
      return { status: 409, title: 'SKU limits exceeded' };
    case CredentialExceptionCode.AdminUserDisabled:
      return { status: 409, title: 'Admin user is disabled' };
    case ServicePrincipalExceptionCode.NotFound:
      return { status: 404, title: 'Service principal not found' };
    case ServicePrincipalExceptionCode.SecretNotFound:
      return { status: 404, title: 'Service principal secret not found' };
    case ServicePrincipalExceptionCode.RoleAssignmentNotFound:
      return { status: 404, title: 'Role assignment not found' };
    case ServicePrincipalExceptionCode.DisplayNameTaken:
      return { status: 409, title: 'Service principal display name already in use' };
    case ServicePrincipalExceptionCode.RoleAlreadyAssigned:
      return { status: 409, title: 'Role already assigned' };
    case ServicePrincipalExceptionCode.LimitReached:
      return { status: 409, title: 'Service principal limit reached' };
    case WebhookExceptionCode.NotFound:
      return { status: 404, title: 'Webhook not found' };
    case WebhookExceptionCode.NameTaken:
      return { status: 409, title: 'Webhook name already in use' };
    case WebhookExceptionCode.LimitReached:
      return { status: 409, title: 'Webhook limit reached' };
    case RepositoryExceptionCode.NotFound:
      return { status: 404, title: 'Repository not found' };
    case RepositoryExceptionCode.Locked:
      return { status: 409, title: 'Repository is locked' };
    case RepositoryExceptionCode.Busy:
      return { status: 503, title: 'Repository busy', headers: { 'Retry-After': '1' } };
    case ApiKeyExceptionCode.NotFound:
      return { status: 404, title: 'API key not found' };
    default:
      return assertUnreachable(code);
  }
}

export function toProblem(
  exception: AnyDomainException,
  instance: string,
): { problem: ProblemDetails; headers: Record<string, string> } {
  const spec = problemSpecFor(exception.code);
  const problem: ProblemDetails = {
    type: problemType(exception.code),
    title: spec.title,
    status: spec.status,
    detail: exception.message,
    instance,
    code: exception.code,
  };
  if (exception.details.errors) problem.errors = exception.details.errors;
  if (exception.details.limits) problem.limits = exception.details.limits;
  return { problem, headers: spec.headers ?? {} };
}
