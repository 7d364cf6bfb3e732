import pino, { type DestinationStream, type Logger } from 'pino';
import type { BerthConfig } from './config';

export type { Logger } from 'pino';

/**
 * The JSON logger every app uses: the configured level, ISO timestamps, an
 * `app` field, and redaction of the paths the app names (a second line of
 * defence: no app logs credentials on purpose). Each app lists its own
 * paths, since a field that is a secret in one (`key` in the management
 * API) is useful context in another (a storage key in the data plane).
 * Logs go to stdout, or to `destination` (tests read them from there).
 */
export function createAppLogger(
  config: BerthConfig,
  app: string,
  redactPaths: string[],
  destination?: DestinationStream,
): Logger {
  return pino(
    {
      level: config.logLevel,
      base: { app },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: redactPaths, censor: '[redacted]' },
    },
    destination,
  );
}
