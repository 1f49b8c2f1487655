/**
 * The composition root: the one place where the pieces are built and wired together.
 * Start-up order: database (embedded when DATABASE_URL is unset) → migrations → pool → event store
 * → identity → flow catalog and conversation actors → projections → background workers (outbound
 * sender, snooze waker, flow worker) → HTTP server and WebSocket gateway. `close` runs it
 * backwards after draining requests.
 */
import { randomUUID } from 'node:crypto';
import { sql } from 'slonik';
import { allProjections } from '../projections/index.ts';
import { ActorSystem } from './actors/actorSystem.ts';
import { createConversationRouter } from './cluster/conversationRouter.ts';
import { createRedisDeltaBus } from './cluster/redisDeltaBus.ts';
import type { Config } from './config/config.ts';
import { contactRoutes } from './conversation/contactRoutes.ts';
import { conversationBehaviour } from './conversation/conversationActor.ts';
import { conversationRoutes } from './conversation/conversationRoutes.ts';
import { SnoozeWaker } from './conversation/snoozeWaker.ts';
import { LeaderLock } from './db/leaderLock.ts';
import { loadMigrations, migrate, migrationsApplied } from './db/migrate.ts';
import { openDatabase } from './db/openDatabase.ts';
import { createDatabasePool } from './db/pool.ts';
import { openEventStore } from './eventstore/openEventStore.ts';
import { botPreparer } from './flow/botPreparation.ts';
import { botRunRoutes } from './flow/botRunRoutes.ts';
import { chatbotRoutes } from './flow/chatbotRoutes.ts';
import { FlowCatalog } from './flow/flowCatalog.ts';
import { flowRoutes } from './flow/flowRoutes.ts';
import { flowSecretRoutes } from './flow/flowSecretRoutes.ts';
import { openFlowSecrets } from './flow/flowSecretStore.ts';
import { FlowWorker } from './flow/flowWorker.ts';
import { createHttpServer } from './http/httpServer.ts';
import { createIdentity } from './identity/identity.ts';
import type { Logger } from './log/logger.ts';
import { createMetrics } from './observability/metrics.ts';
import { ProjectionRunner } from './projection/projectionRunner.ts';
import { type DeltaBus, InProcessDeltaBus } from './realtime/delta.ts';
import { createRealtimeGateway } from './realtime/realtimeGateway.ts';
import { SchemaRegistry } from './schemas/schemaRegistry.ts';
import { ChannelDirectory } from './whatsapp/channelDirectory.ts';
import { createGraphClient } from './whatsapp/graphClient.ts';
import { OutboundSender } from './whatsapp/outboundSender.ts';
import { phoneNumberVerifier } from './whatsapp/phoneNumberVerifier.ts';
import { webhookRoutes } from './whatsapp/webhookRoutes.ts';

export type App = {
  port: number;
  embeddedDatabase: boolean;
  /** The agent consoles' delta bus, for tests that feed the WebSocket gateway directly. */
  deltaBus: DeltaBus;
  close(): Promise<void>;
};

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
  // Names this process's leases and Redis channels when several nodes share a Redis.
  const nodeId = randomUUID();
  const cluster = config.REDIS_URL
    ? {
        url: config.REDIS_URL,
        prefix: config.REDIS_KEY_PREFIX,
        nodeId,
        logger,
        metricsRegistry: metrics.registry,
      }
    : undefined;
  // Deltas for the agent consoles: straight to this node's gateway, or (with Redis) to every node's.
  const bus = cluster ? await createRedisDeltaBus(cluster.url, cluster) : new InProcessDeltaBus();
  const projections = new ProjectionRunner(eventStore, pool, allProjections, logger, {
    bus,
    metricsRegistry: metrics.registry,
    readyLagSeconds: config.PROJECTION_READY_LAG_SECONDS,
  });
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
  // Chatbots run inside the conversation actors' turns, reading their flows through this cache.
  const flowCatalog = new FlowCatalog(pool);
  const prepareBot = botPreparer({ catalog: flowCatalog, maxSteps: config.FLOW_MAX_STEPS });
  const actors = new ActorSystem(eventStore, conversationBehaviour(prepareBot), {
    mailboxLimit: config.ACTOR_MAILBOX_LIMIT,
    idleMs: config.ACTOR_IDLE_SECONDS * 1000,
    maxConflictRetries: 10,
    metricsRegistry: metrics.registry,
  });
  // With Redis, each conversation's commands go to the node holding its lease.
  const router = cluster
    ? await createConversationRouter(cluster.url, {
        ...cluster,
        local: actors,
        leaseMs: config.ACTOR_LEASE_SECONDS * 1000,
      })
    : undefined;
  const conversations = router ?? actors;
  const directory = new ChannelDirectory(pool, identity.deps.secretBox);
  // Background workers run on one node at a time: whichever holds this lock.
  const leader = new LeaderLock(database.url, 'pytake.workers', logger);
  const snoozeWaker = new SnoozeWaker({ pool, conversations, projections, leader, logger });
  const flowWorker = new FlowWorker(
    { pool, conversations, projections, leader, logger },
    {
      policy: {
        allowedHosts: config.FLOW_API_ALLOWED_HOSTS,
        maxResponseBytes: config.FLOW_API_MAX_RESPONSE_BYTES,
        maxTimeoutMs: config.FLOW_API_TIMEOUT_MS,
      },
      concurrency: config.FLOW_API_CONCURRENCY,
      openSecrets: (organizationId, names) =>
        openFlowSecrets({ pool, secretBox: identity.deps.secretBox }, organizationId, names),
    },
  );
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
    if (
      projection === 'flows' ||
      (projection === 'conversations' && batch.some((e) => e.type === 'ContactUpdated'))
    )
      flowCatalog.invalidate();
    if (projection === 'flow-runs') flowWorker.wake();
  });
  await projections.start();
  sender.start();
  snoozeWaker.start();
  flowWorker.start();

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
      ...conversationRoutes({ pool, authenticator: identity.deps.authenticator, conversations, projections }),
      ...contactRoutes({ pool, authenticator: identity.deps.authenticator, store: eventStore, projections }),
      ...flowRoutes({
        pool,
        authenticator: identity.deps.authenticator,
        store: eventStore,
        projections,
        registry,
      }),
      ...botRunRoutes({ pool, authenticator: identity.deps.authenticator }),
      ...flowSecretRoutes({
        pool,
        store: eventStore,
        projections,
        authenticator: identity.deps.authenticator,
        secretBox: identity.deps.secretBox,
      }),
      ...chatbotRoutes({ pool, authenticator: identity.deps.authenticator, store: eventStore, projections }),
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
  const gateway = createRealtimeGateway({
    app: http.app,
    config,
    logger,
    pool,
    store: eventStore,
    authenticator: identity.deps.authenticator,
    bus,
    conversations,
    projections,
    registry,
    metricsRegistry: metrics.registry,
    isShuttingDown: () => http.shuttingDown,
  });
  const port = await http.listen();

  return {
    port,
    embeddedDatabase: database.embedded,
    deltaBus: bus,
    async close() {
      await gateway.close();
      await http.close();
      await Promise.all([sender.stop(), snoozeWaker.stop(), flowWorker.stop()]);
      // Other nodes take this node's conversations over at once: it answers no more and holds no lease.
      await router?.close();
      await leader.release();
      await projections.stop();
      await bus.close();
      await eventStore.close();
      await pool.end();
      await database.close();
    },
  };
}
