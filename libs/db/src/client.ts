import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from './generated/prisma/client';

export { PrismaClient, Prisma } from './generated/prisma/client';
export type * from './generated/prisma/client';

/** The one database handle type the apps and repositories use. */
export type Db = PrismaClient;
/** A transaction-scoped client, as passed to `db.$transaction(async (tx) => …)`. */
export type Tx = Omit<PrismaClient, '$connect' | '$disconnect' | '$on' | '$transaction' | '$extends'>;

export interface DbOptions {
  /** Pool size of the pg driver; the data plane wants more than the worker. */
  maxConnections?: number;
}

/** Creates a Prisma client on the pg driver adapter (Prisma 7 has no built-in driver). */
export function createDb(databaseUrl: string, options: DbOptions = {}): Db {
  const adapter = new PrismaPg({ connectionString: databaseUrl, max: options.maxConnections ?? 10 });
  return new PrismaClient({ adapter });
}
