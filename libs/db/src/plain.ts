// @berth/db without the Prisma client: SQL over `pg`, the outbox writer,
// lock keys and repository deletion. The data plane imports this entry
// (`@berth/db/plain`) so it never loads Prisma's runtime, which it does not use.
export * from './outbox';
export * from './locks';
export * from './sql';
export * from './repository-delete';
