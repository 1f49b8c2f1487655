import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sql } from 'slonik';
import { allProjections } from '../../projections/index.ts';
import { ActorSystem } from '../../src/actors/actorSystem.ts';
import { conversationBehaviour, conversationIdFor } from '../../src/conversation/conversationActor.ts';
import type { ConversationCommand } from '../../src/conversation/conversationCommands.ts';
import { createDatabasePool } from '../../src/db/pool.ts';
import { PostgresEventStore } from '../../src/eventstore/postgresEventStore.ts';
import { normaliseMessage, normaliseStatus } from '../../src/whatsapp/normaliseMessage.ts';
import { requester } from '../support/app.ts';
import { createTestDatabase, type TestDatabase, testLogger, testRegistry } from '../support/database.ts';
import { statusUpdate, textMessage } from '../support/metaWebhook.ts';
import { runScript } from '../support/runScript.ts';
import { type Server, startServer, stop } from '../support/serverProcess.ts';
import { orgWithChannel } from '../support/whatsapp.ts';

const customers = 150;
/** Tables this test's backlog fills (the others are compared too, empty or not). */
const populated = new Set([
  'rm.conversations',
  'rm.messages',
  'rm.contacts',
  'rm.notes',
  'rm.users',
  'rm.channels',
]);
const messagesEach = 12;

/**
 * A projector killed in the middle of a catch-up must resume where its last committed batch ended:
 * the read models it ends with must equal, row for row, the ones a full replay builds from the store.
 */
describe('a server killed while projecting', { timeout: 240_000 }, () => {
  let db: TestDatabase;
  const dataDir = mkdtempSync(join(tmpdir(), 'pytake-projection-crash-'));
  const env = () => ({ DATABASE_URL: db.url, DATA_DIR: dataDir, META_APP_SECRET: 'projection-crash' });
  before(async () => {
    db = await createTestDatabase('projection_crash');
  });
  after(async () => {
    await db?.drop();
  });

  it('ends with read models equal to a full replay, row by row', async () => {
    let server: Server = await startServer(env());
    const admin = await orgWithChannel({ request: requester(`http://127.0.0.1:${server.port}`) }, 'pcrash');
    await stop(server);

    // While the server is down, another writer records a backlog of conversations.
    const pool = await createDatabasePool(db.url, 6);
    const store = await PostgresEventStore.open({
      pool,
      databaseUrl: db.url,
      registry: testRegistry(),
      logger: testLogger,
    });
    const actors = new ActorSystem(store, conversationBehaviour(), {
      mailboxLimit: 1000,
      idleMs: 60_000,
      maxConflictRetries: 10,
    });
    const context = {
      organizationId: admin.organizationId,
      actor: 'meta-webhook',
      correlationId: randomUUID(),
    };
    const everyone = { all: true } as const;
    await Promise.all(
      Array.from({ length: customers }, async (_, c) => {
        const waId = `1555030${String(c).padStart(4, '0')}`;
        const conversationId = conversationIdFor(admin.organizationId, admin.channelId, waId);
        const send = (command: ConversationCommand) => actors.send(conversationId, command, context);
        for (let m = 0; m < messagesEach; m++) {
          await send({
            type: 'ReceiveWebhook',
            conversationId,
            channelId: admin.channelId,
            contact: { waId, name: `Customer ${c}${m > 6 ? ' (new name)' : ''}` },
            messages: [normaliseMessage(textMessage(waId, `wamid.pcrash-${c}-${m}`, `hello ${m}`))],
            statuses: [],
          });
        }
        const messageId = randomUUID();
        const now = new Date().toISOString();
        await send({
          type: 'SendMessage',
          visibility: everyone,
          messageId,
          clientMessageId: null,
          content: { type: 'text', text: 'on it' },
          replyTo: null,
          author: { kind: 'agent', id: admin.userId },
          now,
        });
        await send({ type: 'RecordSendAttempt', messageId, attempt: 1 });
        await send({
          type: 'RecordSendOutcome',
          messageId,
          outcome: { kind: 'sent', waMessageId: `wamid.out-${c}` },
        });
        await send({
          type: 'ReceiveWebhook',
          conversationId,
          channelId: admin.channelId,
          contact: { waId, name: null },
          messages: [],
          statuses: [normaliseStatus(statusUpdate(`wamid.out-${c}`, waId, 'delivered'))].filter(
            (status) => status !== undefined,
          ),
        });
        if (c % 3 === 0)
          await send({ type: 'Assign', visibility: everyone, assigneeId: admin.userId, by: admin.userId });
        if (c % 4 === 0)
          await send({
            type: 'AddNote',
            visibility: everyone,
            noteId: randomUUID(),
            text: 'vip',
            authorId: admin.userId,
          });
        if (c % 5 === 0)
          await send({ type: 'AddLabel', visibility: everyone, label: 'lead', by: admin.userId });
        if (c % 6 === 0) await send({ type: 'Resolve', visibility: everyone, by: admin.userId });
      }),
    );
    await store.close();

    const messages = () => pool.oneFirst(sql.unsafe`SELECT count(*) FROM rm.messages`).then(Number);
    const expected = customers * (messagesEach + 1);

    // Restart: the projector catches up on the backlog; kill it half-way.
    server = await startServer(env());
    for (let seen = await messages(); seen < expected / 4; seen = await messages()) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    server.child.kill('SIGKILL');
    await server.exited;
    const atKill = await messages();
    assert.ok(atKill < expected, `killed mid-way (${atKill} of ${expected} messages projected)`);

    server = await startServer(env());
    try {
      // Caught up: every projection's checkpoint is the last event of its types in the store.
      const caughtUp = async () => {
        for (const projection of allProjections) {
          const [last, checkpoint] = await Promise.all([
            pool.maybeOneFirst(sql.unsafe`
              SELECT position FROM es.events WHERE type = ANY(${sql.array(projection.eventTypes, 'text')})
               ORDER BY transaction_id DESC, position DESC LIMIT 1`),
            pool.maybeOneFirst(
              sql.unsafe`SELECT position FROM projection.checkpoints WHERE name = ${projection.name}`,
            ),
          ]);
          if (last !== null && last !== checkpoint) return false;
        }
        return true;
      };
      const deadline = Date.now() + 120_000;
      while (!(await caughtUp()) && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 100));
      assert.equal(await messages(), expected);
    } finally {
      await stop(server);
    }

    // A full replay of every projection, then every live table against the one it replaced.
    const replay = await runScript('scripts/replay.ts', [], env());
    assert.equal(replay.code, 0, replay.out);
    for (const projection of allProjections) {
      for (const live of Object.values(projection.tables)) {
        const [schema, table] = live.split('.') as [string, string];
        const retired = new RegExp(`kept the previous table as (${schema}\\.${table}__retired_\\d{17})`).exec(
          replay.out,
        )?.[1];
        assert.ok(retired, `${live} was replaced:\n${replay.out}`);
        const [liveTable, oldTable] = [sql.identifier([schema, table]), sql.identifier(retired.split('.'))];
        const differences = await pool.oneFirst(sql.unsafe`
          SELECT (SELECT count(*) FROM (TABLE ${liveTable} EXCEPT ALL TABLE ${oldTable}) a)
               + (SELECT count(*) FROM (TABLE ${oldTable} EXCEPT ALL TABLE ${liveTable}) b)`);
        const rows = await pool.oneFirst(sql.unsafe`SELECT count(*) FROM ${liveTable}`);
        assert.equal(Number(differences), 0, `${live}: the projected rows equal the replayed ones`);
        if (populated.has(live)) assert.ok(Number(rows) > 0, `${live} has rows to compare`);
      }
    }
    await pool.end();
  });
});
