import type { LoggerService } from '@nestjs/common';
import type { DestinationStream, Logger } from 'pino';
import { createAppLogger, type BerthConfig } from '@berth/config';

export type { Logger } from 'pino';

/**
 * JSON logs on stdout (or the given stream, which tests use to read them).
 * Authorization headers and anything named like a secret are redacted as a
 * second line of defence: the code never logs request headers or bodies.
 */
export function createLogger(config: BerthConfig, destination?: DestinationStream): Logger {
  return createAppLogger(
    config,
    'management-api',
    ['authorization', '*.authorization', 'headers.authorization', '*.headers.authorization', 'key', 'secret', 'password'],
    destination,
  );
}

/** Routes Nest's own messages (bootstrap, route mapping) into the JSON log. */
export class PinoNestLogger implements LoggerService {
  constructor(private readonly logger: Logger) {}

  log(message: unknown, context?: string): void {
    this.logger.debug({ context }, String(message));
  }
  error(message: unknown, trace?: string, context?: string): void {
    this.logger.error({ context, trace }, String(message));
  }
  warn(message: unknown, context?: string): void {
    this.logger.warn({ context }, String(message));
  }
  debug(message: unknown, context?: string): void {
    this.logger.debug({ context }, String(message));
  }
  verbose(message: unknown, context?: string): void {
    this.logger.trace({ context }, String(message));
  }
  fatal(message: unknown, context?: string): void {
    this.logger.fatal({ context }, String(message));
  }
}
