/** Compile-time exhaustiveness check: a new enum member that is not handled fails to type-check here. */
export function assertUnreachable(value: never): never {
  throw new Error(`Unhandled case: ${String(value)}`);
}
