/**
 * Options for the data plane's interactive transactions: under a burst of
 * pushes the pool may be busy for a while, which must slow requests down,
 * not fail them (Prisma's defaults are 2 s to get a connection, 5 s to run).
 */
export const TX_OPTIONS = { maxWait: 10_000, timeout: 30_000 } as const;
