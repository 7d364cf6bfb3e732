/**
 * Key of the transaction-scoped advisory lock that serialises usage accounting
 * of one manifest digest in one registry (manifests are per repository, usage
 * per registry). Every writer that adds or removes manifest bytes from
 * Registry.storageUsedBytes takes it: the data plane's manifest PUT/DELETE,
 * ACR repository deletion and the worker's retention.
 */
export function digestLockKey(registryId: string, digest: string): string {
  return `${registryId}:${digest}`;
}
