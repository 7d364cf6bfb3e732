import type { TransactionOptions } from '@berth/db/plain';

/**
 * Options for the data plane's short write transactions. Under a burst of
 * pushes the pool may be busy for a while, which must slow requests down,
 * not fail them: the main pool waits up to 10 s for a connection (see
 * registry-server.ts), and a transaction may run for 30 s.
 */
export const TX_OPTIONS: TransactionOptions = { timeoutMs: 30_000 };
