/**
 * Repository name patterns: the OCI repository grammar (lower-case path
 * components separated by `/`, with `.`, `_`, `__` or dashes inside a
 * component), where `*` may stand for any run of characters.
 */
const COMPONENT = '[a-z0-9*]+(?:(?:[._]|__|-+)[a-z0-9*]+)*';
export const REPOSITORY_PATTERN_SOURCE = `${COMPONENT}(?:/${COMPONENT})*`;
export const REPOSITORY_PATTERN = new RegExp(`^${REPOSITORY_PATTERN_SOURCE}$`);
/** OCI tag grammar, with `*` wildcards. */
export const TAG_PATTERN_SOURCE = '[a-zA-Z0-9_*][a-zA-Z0-9._*-]{0,127}';
export const MAX_REPOSITORY_NAME_LENGTH = 256;

export const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
