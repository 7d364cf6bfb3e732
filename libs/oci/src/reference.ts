import { parseDigest, type ParsedDigest } from './digest';

/** OCI Distribution `<name>`: path components of lower-case alphanumerics joined by `.`, `_`, `__` or dashes. */
const REPOSITORY_NAME_PATTERN = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;

/** OCI Distribution `<reference>` when it is a tag. */
const TAG_PATTERN = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;

/** Clients limit `<host>/<name>` to 255 characters; the registry enforces the same bound. */
export const MAX_REPOSITORY_REFERENCE_LENGTH = 255;

/**
 * Whether `name` is a valid repository name. With `host` (the login server,
 * port included when clients use one), the 255-character bound applies to
 * `host/name` as clients see it; without, to the name alone.
 */
export function isValidRepositoryName(name: string, host?: string): boolean {
  const budget = host === undefined ? MAX_REPOSITORY_REFERENCE_LENGTH : MAX_REPOSITORY_REFERENCE_LENGTH - host.length - 1;
  return name.length > 0 && name.length <= budget && REPOSITORY_NAME_PATTERN.test(name);
}

export function isValidTag(tag: string): boolean {
  return TAG_PATTERN.test(tag);
}

export type ManifestReference = { kind: 'tag'; tag: string } | { kind: 'digest'; digest: ParsedDigest };

/**
 * Parses the `<reference>` of a manifest URL: a digest when it contains `:`,
 * otherwise a tag. Returns undefined for a malformed value of either kind.
 */
export function parseManifestReference(reference: string): ManifestReference | undefined {
  if (reference.includes(':')) {
    const digest = parseDigest(reference);
    return digest ? { kind: 'digest', digest } : undefined;
  }
  return isValidTag(reference) ? { kind: 'tag', tag: reference } : undefined;
}
