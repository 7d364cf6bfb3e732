import type { DestinationStream, Logger } from 'pino';
import { createAppLogger, type BerthConfig } from '@berth/config';

export type { Logger } from 'pino';

/**
 * JSON logs on stdout. Webhook URIs, headers and secrets are never logged;
 * the redaction is a second line of defence.
 */
export function createLogger(config: BerthConfig, destination?: DestinationStream): Logger {
  return createAppLogger(
    config,
    'worker',
    ['authorization', '*.authorization', 'headers', '*.headers', 'secret', '*.secret', 'serviceUri', '*.serviceUri'],
    destination,
  );
}
