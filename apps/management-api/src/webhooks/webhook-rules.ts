import { ValidateBy, ValidationOptions } from 'class-validator';
import { REPOSITORY_PATTERN_SOURCE, TAG_PATTERN_SOURCE } from '../common/patterns';

export const WEBHOOK_ACTIONS = ['push', 'delete', 'quarantine', 'chart_push', 'chart_delete'] as const;
export type WebhookAction = (typeof WEBHOOK_ACTIONS)[number];
export const WEBHOOK_STATUSES = ['enabled', 'disabled'] as const;
export const PAYLOAD_FORMATS = ['acr', 'cloudevents'] as const;

export const WEBHOOK_NAME_PATTERN = /^[A-Za-z0-9]{5,50}$/;
/** `repo[:tag]` with `*` wildcards, or empty for every repository and tag (ACR's scope). */
export const SCOPE_PATTERN = new RegExp(`^(?:${REPOSITORY_PATTERN_SOURCE}(?::${TAG_PATTERN_SOURCE})?)?$`);

const MAX_URI_LENGTH = 2048;
const MAX_HEADERS = 20;
const MAX_HEADER_VALUE_LENGTH = 4096;
/** RFC 9110 token characters. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$/;
/** Visible characters, spaces and tabs: no CR, LF or NUL, so a value cannot inject headers. */
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\uffff]*$/;
/** Headers the delivering client sets itself; letting users set them would break or smuggle requests. */
const FORBIDDEN_HEADERS = new Set([
  'host', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'te', 'trailer', 'expect',
  'proxy-authorization', 'proxy-connection',
]);

export function serviceUriProblem(value: unknown): string | undefined {
  if (typeof value !== 'string') return 'must be a string';
  if (value.length > MAX_URI_LENGTH) return `must be at most ${MAX_URI_LENGTH} characters`;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'must be an absolute http or https URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'must use http or https';
  if (!url.hostname) return 'must name a host';
  return undefined;
}

export function customHeadersProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'must be an object of header names to values';
  const entries = Object.entries(value);
  if (entries.length > MAX_HEADERS) return `may hold at most ${MAX_HEADERS} headers`;
  const seen = new Set<string>();
  for (const [name, headerValue] of entries) {
    if (!HEADER_NAME.test(name)) return `has an invalid header name "${name.slice(0, 100)}"`;
    const lower = name.toLowerCase();
    if (FORBIDDEN_HEADERS.has(lower)) return `may not set the ${name} header`;
    if (seen.has(lower)) return `repeats the header ${name}`;
    seen.add(lower);
    if (typeof headerValue !== 'string') return `header ${name} must have a string value`;
    if (headerValue.length > MAX_HEADER_VALUE_LENGTH) return `header ${name} is longer than ${MAX_HEADER_VALUE_LENGTH} characters`;
    if (!HEADER_VALUE.test(headerValue)) return `header ${name} has control characters in its value`;
  }
  return undefined;
}

function ruleDecorator(name: string, problem: (value: unknown) => string | undefined, options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name,
      validator: {
        validate: (value: unknown) => problem(value) === undefined,
        defaultMessage: (args) => `$property ${problem(args?.value) ?? 'is invalid'}`,
      },
    },
    options,
  );
}

export const IsServiceUri = (options?: ValidationOptions): PropertyDecorator =>
  ruleDecorator('isServiceUri', serviceUriProblem, options);

export const IsCustomHeaders = (options?: ValidationOptions): PropertyDecorator =>
  ruleDecorator('isCustomHeaders', customHeadersProblem, options);
