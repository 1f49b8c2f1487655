/**
 * The composition root: the one place where the pieces are built and wired together.
 * Start-up order: database (embedded when DATABASE_URL is unset) → migrations → pool → event store
 * → identity → conversation actors → projections → background workers (outbound sender, snooze
 * waker) → HTTP server. `close` runs it
 * backwards after draining requests.
 */
import { sql } from 'slonik';
import { conversationTimersProjection } from '../projections/conversationTimers.ts';
import { identityProjection } from '../projections/identity.ts';
import { outboundProjection } from '../projections/outbound.ts';
import { ActorSystem } from './actors/actorSystem.ts';
import type { Config } from './config/config.ts';
import { conversationBehaviour } from './conversation/conversationActor.ts';
import { conversationRoutes } from './conversation/conversationRoutes.ts';
import { SnoozeWaker } from './conversation/snoozeWaker.ts';
import { LeaderLock } from './db/leaderLock.ts';
import { loadMigrations, migrate, migrationsApplied } from './db/migrate.ts';
import { openDatabase } from './db/openDatabase.ts';
import { createDatabasePool } from './db/pool.ts';
import { openEventStore } from './eventstore/openEventStore.ts';
import { createHttpServer } from './http/httpServer.ts';
import { createIdentity } from './identity/identity.ts';
import type { Logger } from './log/logger.ts';
import { createMetrics } from './observability/metrics.ts';
import { ProjectionRunner } from './projection/projectionRunner.ts';
import { SchemaRegistry } from './schemas/schemaRegistry.ts';
import { ChannelDirectory } from './whatsapp/channelDirectory.ts';
import { createGraphClient } from './whatsapp/graphClient.ts';
import { OutboundSender } from './whatsapp/outboundSender.ts';
import { phoneNumberVerifier } from './whatsapp/phoneNumberVerifier.ts';
import { webhookRoutes } from './whatsapp/webhookRoutes.ts';

export type App = { port: number; embeddedDatabase: boolean; close(): Promise<void> };

export async function startApp(config: Config, logger: Logger): Promise<App> {
  const database = await openDatabase(config, logger);
  await migrate(database.url, logger);
  const knownMigrations = loadMigrations().length;
  const pool = await createDatabasePool(database.url, config.DATABASE_POOL_SIZE);
  const registry = new SchemaRegistry();
  const metrics = createMetrics();
  const eventStore = await openEventStore(config, {
    pool,
    databaseUrl: database.url,
    registry,
    logger,
    metricsRegistry: metrics.registry,
  });
  const projections = new ProjectionRunner(
    eventStore,
    pool,
    [identityProjection, outboundProjection, conversationTimersProjection],
    logger,
  );
  const graph = createGraphClient({
    baseUrl: config.META_GRAPH_URL,
    version: config.META_GRAPH_VERSION,
    timeoutMs: config.GRAPH_TIMEOUT_MS,
  });
  const identity = await createIdentity(config, logger, {
    store: eventStore,
    pool,
    projections,
    verifyPhoneNumber: phoneNumberVerifier(graph, config.CHANNEL_VERIFICATION),
  });
  const conversations = new ActorSystem(eventStore, conversationBehaviour, {
    mailboxLimit: config.ACTOR_MAILBOX_LIMIT,
    idleMs: config.ACTOR_IDLE_SECONDS * 1000,
    maxConflictRetries: 10,
    metricsRegistry: metrics.registry,
  });
  const directory = new ChannelDirectory(pool, identity.deps.secretBox);
  // Background workers run on one node at a time: whichever holds this lock.
  const leader = new LeaderLock(database.url, 'pytake.workers', logger);
  const snoozeWaker = new SnoozeWaker({ pool, conversations, projections, leader, logger });
  const sender = new OutboundSender(
    {
      pool,
      conversations,
      directory,
      graph,
      projections,
      leader,
      logger,
      metricsRegistry: metrics.registry,
    },
    {
      ratePerSecond: config.OUTBOUND_RATE_PER_SECOND,
      pairIntervalMs: config.OUTBOUND_PAIR_INTERVAL_MS,
      pairBurst: config.OUTBOUND_PAIR_BURST,
      maxAttempts: config.OUTBOUND_MAX_ATTEMPTS,
      retryBaseMs: config.OUTBOUND_RETRY_BASE_MS,
      inDoubtGraceMs: config.OUTBOUND_IN_DOUBT_GRACE_SECONDS * 1000,
      concurrency: 256,
    },
  );
  projections.onApplied((projection, batch) => {
    if (projection === 'outbound') sender.wake();
    if (projection === 'identity' && batch.some((event) => event.type.startsWith('Channel')))
      directory.invalidate();
  });
  await projections.start();
  sender.start();
  snoozeWaker.start();

  const http = createHttpServer({
    config,
    logger,
    registry,
    metrics,
    routes: [
      ...identity.routes,
      ...webhookRoutes({
        appSecret: config.META_APP_SECRET,
        verifyToken: config.WEBHOOK_VERIFY_TOKEN,
        directory,
        conversations,
        registry,
        metricsRegistry: metrics.registry,
      }),
      ...conversationRoutes({ pool, authenticator: identity.deps.authenticator, conversations }),
    ],
    readinessChecks: {
      database: {
        check: async () => {
          await pool.query(sql.unsafe`SELECT 1`);
          return { ok: true };
        },
      },
      projections: { check: async () => projections.health() },
      migrations: {
        check: async () =>
          (await migrationsApplied(pool, knownMigrations))
            ? { ok: true }
            : { ok: false, detail: 'migrations pending' },
      },
    },
  });
  const port = await http.listen();

  return {
    port,
    embeddedDatabase: database.embedded,
    async close() {
      await http.close();
      await Promise.all([sender.stop(), snoozeWaker.stop()]);
      await leader.release();
      await projections.stop();
      await eventStore.close();
      await pool.end();
      await database.close();
    },
  };
}
