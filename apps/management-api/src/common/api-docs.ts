import { applyDecorators } from '@nestjs/common';
import { ApiBasicAuth, ApiBearerAuth, ApiExtraModels, ApiResponse, getSchemaPath } from '@nestjs/swagger';
import { PROBLEM_CONTENT_TYPE } from './problem';
import { ProblemDetailsDto } from './problem.dto';

export const API_KEY_SCHEME = 'api-key';
export const OWNER_PRINCIPAL_SCHEME = 'owner-principal';

const DESCRIPTIONS: Record<number, string> = {
  400: 'Invalid request; `errors` names each offending field.',
  401: 'Missing, malformed, wrong or revoked API key, or service principal credentials not valid for the registry.',
  403: 'Valid service principal credentials without the Owner role on all of the registry.',
  404: 'No such resource.',
  409: 'Conflicts with the current state (name taken, SKU limit, registry being deleted, ...).',
  413: 'Request body over 1 MiB.',
  415: 'Request body is not JSON.',
  503: 'A dependency is unreachable.',
};

/** Documents problem-details responses; 400, 401 and 413 apply to every authenticated JSON route. */
export function ApiProblems(...statuses: number[]): MethodDecorator & ClassDecorator {
  return applyDecorators(
    ApiExtraModels(ProblemDetailsDto),
    ...statuses.map((status) =>
      ApiResponse({
        status,
        description: DESCRIPTIONS[status] ?? 'Error',
        content: { [PROBLEM_CONTENT_TYPE]: { schema: { $ref: getSchemaPath(ProblemDetailsDto) } } },
      }),
    ),
  );
}

/** Every /api/v1 controller: bearer API key, and the errors any route can give. */
export function ApiAuthenticated(): ClassDecorator {
  return applyDecorators(ApiBearerAuth(API_KEY_SCHEME), ApiProblems(400, 401)) as ClassDecorator;
}

/** Routes of one registry: an Owner service principal of that registry may call them too. */
export function ApiOwnerPrincipal(): MethodDecorator & ClassDecorator {
  return applyDecorators(ApiBasicAuth(OWNER_PRINCIPAL_SCHEME), ApiProblems(403));
}
