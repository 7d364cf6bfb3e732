import type { DestinationStream, Logger } from 'pino';
import { createAppLogger, type BerthConfig } from '@berth/config';

export type { Logger } from 'pino';

/**
 * JSON logs on stdout (or the given stream). The data plane logs each request
 * at debug only (it is the hot path); client errors stay at debug, server
 * errors at error, each with the request id the client also sees. Credentials
 * are never logged; redaction is a second line of defence.
 */
export function createLogger(config: BerthConfig, destination?: DestinationStream): Logger {
  return createAppLogger(
    config,
    'registry',
    ['authorization', '*.authorization', 'headers.authorization', '*.headers.authorization', 'password', 'token', 'secret'],
    destination,
  );
}
