import pino, { type DestinationStream, type Logger } from 'pino';
import type { BerthConfig } from '@berth/config';

export type { Logger } from 'pino';

/**
 * JSON logs on stdout. Webhook URIs, headers and secrets are never logged;
 * the redaction is a second line of defence.
 */
export function createLogger(config: BerthConfig, destination?: DestinationStream): Logger {
  return pino(
    {
      level: config.logLevel,
      base: { app: 'worker' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: {
        paths: ['authorization', '*.authorization', 'headers', '*.headers', 'secret', '*.secret', 'serviceUri', '*.serviceUri'],
        censor: '[redacted]',
      },
    },
    destination,
  );
}
