import type { AuthPolicy } from './router';

/** The route needs these actions on the repository named by the `name` path parameter. */
export function repositoryScope(...actions: string[]): AuthPolicy {
  return { kind: 'scope', scope: (ctx) => ({ type: 'repository', name: ctx.params.name!, actions }) };
}

/** `registry:catalog:*`, the scope of catalog listing. */
export const catalogScope: AuthPolicy = { kind: 'scope', scope: () => ({ type: 'registry', name: 'catalog', actions: ['*'] }) };
