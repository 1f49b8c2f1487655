/**
 * `npm start`: reads the configuration, starts the app (src/app.ts), and stops it gracefully on
 * SIGINT/SIGTERM (a second signal exits at once).
 */
import { startApp } from './app.ts';
import { ConfigError, loadConfig } from './config/config.ts';
import { uwsBuild } from './http/uws.ts';
import { createLogger } from './log/logger.ts';

let config: ReturnType<typeof loadConfig>;
try {
  config = loadConfig();
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(`pytake: configuration error: ${error.message}`);
  process.exit(1);
}

const logger = createLogger(config.LOG_LEVEL);
process.on('uncaughtException', (error) => {
  logger.fatal({ err: error }, 'uncaught exception; exiting');
  process.exit(1);
});
process.on('unhandledRejection', (reason) => {
  logger.fatal({ err: reason }, 'unhandled rejection; exiting');
  process.exit(1);
});

const app = await startApp(config, logger);
logger.info(
  {
    port: app.port,
    host: config.HOST,
    database: app.embeddedDatabase ? 'embedded' : 'external',
    uws: `v${uwsBuild.uwsVersion} ${uwsBuild.packageName}/${uwsBuild.file}`,
  },
  `PyTake listening on http://${config.HOST === '0.0.0.0' ? 'localhost' : config.HOST}:${app.port}`,
);

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) {
    logger.warn({ signal }, 'second signal: exiting now');
    process.exit(1);
  }
  stopping = true;
  logger.info({ signal }, 'shutting down: draining requests');
  try {
    await app.close();
    logger.info('stopped');
    process.exit(0);
  } catch (error) {
    logger.error({ err: error }, 'shutdown failed');
    process.exit(1);
  }
}
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));
