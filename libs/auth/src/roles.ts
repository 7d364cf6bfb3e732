/** Data-plane repository actions, as they appear in token scopes. */
export type RepositoryAction = 'pull' | 'push' | 'delete' | 'metadata_read' | 'metadata_write';

export const ROLES = ['AcrPull', 'AcrPush', 'AcrDelete', 'Owner'] as const;
export type RoleName = (typeof ROLES)[number];

/** What each built-in role may do in a repository (ACR's non-ABAC RBAC mode). */
export const ROLE_ACTIONS: Record<RoleName, readonly RepositoryAction[]> = {
  AcrPull: ['pull', 'metadata_read'],
  AcrPush: ['pull', 'push', 'metadata_read', 'metadata_write'],
  AcrDelete: ['delete', 'metadata_read'],
  Owner: ['pull', 'push', 'delete', 'metadata_read', 'metadata_write'],
};

/** Admin user: full push and pull, no RBAC, as in ACR. */
export const ADMIN_ACTIONS: readonly RepositoryAction[] = ROLE_ACTIONS.Owner;
