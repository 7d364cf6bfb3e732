/**
 * Webhook scopes, as ACR defines them: `repo:tag` with `*` wildcards
 * (`*` matches any run of characters, `/` included); `repo` alone means
 * `repo:latest`; an empty scope matches every event.
 *
 * Events that name no tag (a push or delete by digest, a repository delete
 * that removed no tags) match when the repository matches and the tag
 * pattern accepts the empty string: `foo:*` sees them, `foo:latest` does not.
 */
export interface ScopeSubject {
  repository: string;
  /** The tags the event is about; empty when it is about a digest only. */
  tags: readonly string[];
}

export interface ParsedScope {
  repository: RegExp;
  tag: RegExp;
}

/** Parses a scope; undefined for the empty scope (matches everything). */
export function parseScope(scope: string): ParsedScope | undefined {
  const trimmed = scope.trim();
  if (trimmed === '') return undefined;
  // The repository part never contains ':' (OCI names), so the last ':' splits.
  const colon = trimmed.lastIndexOf(':');
  const repo = colon === -1 ? trimmed : trimmed.slice(0, colon);
  const tag = colon === -1 ? 'latest' : trimmed.slice(colon + 1);
  return { repository: wildcardToRegExp(repo), tag: wildcardToRegExp(tag) };
}

/** True when an event about `subject` should be delivered to a webhook with `scope`. */
export function scopeMatches(scope: string, subject: ScopeSubject): boolean {
  const parsed = parseScope(scope);
  if (parsed === undefined) return true;
  if (!parsed.repository.test(subject.repository)) return false;
  if (subject.tags.length === 0) return parsed.tag.test('');
  return subject.tags.some((tag) => parsed.tag.test(tag));
}

function wildcardToRegExp(pattern: string): RegExp {
  const body = pattern
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\/-]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${body}$`);
}
