import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { API_KEY_SCHEME, OWNER_PRINCIPAL_SCHEME } from './api-docs';

export function buildOpenApiDocument(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('Berth management API')
    .setDescription(
      'Control plane of Berth, a self-hosted container registry service in the manner of Azure Container Registry. ' +
        'Every /api/v1 call needs an operator API key as `Authorization: Bearer <key>`; the routes of one registry ' +
        '(/api/v1/registries/{registryName} and below) also accept a service principal with the Owner role on all of that registry, ' +
        'as `Authorization: Basic <clientId:secret>`. ' +
        'Errors are RFC 9457 problem details (application/problem+json). ' +
        'Lists are paged with `top` and `skipToken`; follow `nextLink` (a relative URL) until it is null.',
    )
    .setVersion('v1')
    .addBearerAuth({ type: 'http', scheme: 'bearer', description: 'Operator API key (BERTH_API_KEY or one made with POST /api/v1/api-keys).' }, API_KEY_SCHEME)
    .addBasicAuth({ type: 'http', scheme: 'basic', description: 'Service principal client id and secret; Owner of all of the registry in the path.' }, OWNER_PRINCIPAL_SCHEME)
    .build();
  return SwaggerModule.createDocument(app, config);
}

/** Swagger UI at /docs and the JSON document at /docs-json; both public, like the schema they describe. */
export function setupOpenApi(app: INestApplication): void {
  SwaggerModule.setup('docs', app, buildOpenApiDocument(app), { jsonDocumentUrl: 'docs-json' });
}
