import { type Logger, pino } from 'pino';

export type { Logger };

/**
 * Structured JSON logs. Anything that looks like a credential is redacted at the logger, so a
 * careless `log.info({ body })` cannot leak a secret.
 */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'pytake' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: {
        paths: [
          'password',
          '*.password',
          'accessToken',
          '*.accessToken',
          'refreshToken',
          '*.refreshToken',
          'appSecret',
          '*.appSecret',
          'authorization',
          '*.authorization',
          'headers.authorization',
          'connectionString',
        ],
        censor: '[redacted]',
      },
    },
    destination,
  );
}
