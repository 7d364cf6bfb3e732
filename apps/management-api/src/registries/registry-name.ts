import { ValidateBy, ValidationOptions } from 'class-validator';

/**
 * Names that would collide with Berth's own host names or mislead users
 * (login servers are `<name>.<domain>`). Names under 5 characters are invalid
 * anyway, so the list holds only longer words.
 */
export const RESERVED_REGISTRY_NAMES: ReadonlySet<string> = new Set([
  'admin', 'administrator', 'azurecr', 'berth', 'console', 'dashboard', 'default', 'docker', 'dockerhub',
  'healthz', 'localhost', 'login', 'logout', 'management', 'metrics', 'oauth', 'oauth2', 'portal',
  'readyz', 'registries', 'registry', 'status', 'support', 'system', 'token', 'tokens', 'webhook', 'webhooks',
]);

/** Why a registry name cannot be used, or undefined when its form is acceptable (it may still be taken). */
export function registryNameProblem(name: string): string | undefined {
  if (!/^[A-Za-z0-9]*$/.test(name)) return 'must contain only the letters a-z, A-Z and digits 0-9';
  if (name.length < 5 || name.length > 50) return 'must be 5-50 characters long';
  if (RESERVED_REGISTRY_NAMES.has(name.toLowerCase())) return `"${name.toLowerCase()}" is a reserved name`;
  return undefined;
}

/** Login servers and lookups are lower-case; names are unique case-insensitively. */
export function normalizeRegistryName(name: string): string {
  return name.toLowerCase();
}

export function IsRegistryName(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isRegistryName',
      validator: {
        validate: (value: unknown) => typeof value === 'string' && registryNameProblem(value) === undefined,
        defaultMessage: (args) =>
          `$property ${typeof args?.value === 'string' ? registryNameProblem(args.value) ?? 'is invalid' : 'must be a string'}`,
      },
    },
    options,
  );
}
