import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ConversationDelta } from '../../src/realtime/delta.ts';
import { startTestApp, type TestApp } from '../support/app.ts';
import { redisUnavailable, redisUrl, testPrefix } from '../support/redis.ts';
import { customerWrites, orgWithChannel, type TestChannel } from '../support/whatsapp.ts';
import { TestSocket } from './wsClient.ts';

const secret = 'timing-app-secret';
const skipRedis = await redisUnavailable();

/** A histogram's count in /metrics, for one label set (`{hop="…"}`) or none. */
const histogramCount = async (t: TestApp, name: string, labels = ''): Promise<number> => {
  const text = (await t.request('GET', '/metrics')).body as string;
  const line = text.split('\n').find((entry) => entry.startsWith(`${name}_count${labels} `));
  return Number(line?.split(' ')[1] ?? 0);
};

const hopCount = (t: TestApp, hop: string) =>
  histogramCount(t, 'realtime_delta_hop_seconds', `{hop="${hop}"}`);

/** The deltas as this node's gateway saw them: the same objects, stamped as they went. */
const heard = (t: TestApp) => {
  const deltas: ConversationDelta[] = [];
  t.app.deltaBus.subscribe((batch) => deltas.push(...batch));
  return deltas;
};

async function deltaOnTheInbox(t: TestApp, org: TestChannel, deltas: ConversationDelta[]) {
  const socket = await TestSocket.open(t.app.port, org.accessToken);
  socket.send({ op: 'subscribe', topic: 'inbox' });
  await socket.next((frame) => frame.op === 'subscribed');
  const c = await customerWrites(t, org, secret);
  const frame = await socket.next((frame) => frame.op === 'delta' && frame.event.data.id === c.id);
  socket.close();
  await socket.closed;
  const delta = deltas.find((delta) => delta.position === frame.position);
  assert.ok(delta, 'the gateway heard the delta it sent');
  return { frame, hops: delta.hops };
}

describe('the timing of a delta on its way to the consoles', { timeout: 120_000 }, () => {
  describe('on one node (in-process bus)', () => {
    let t: TestApp;
    let org: TestChannel;
    before(async () => {
      t = await startTestApp('realtime_timing', { META_APP_SECRET: secret });
      org = await orgWithChannel(t, 'timing');
    });
    after(async () => {
      await t?.close();
    });

    it('stamps each hop in order, keeps the stamps out of the frame, and observes them in /metrics', async () => {
      const deltas = heard(t);
      const { frame, hops } = await deltaOnTheInbox(t, org, deltas);
      assert.deepEqual(Object.keys(frame).sort(), ['event', 'op', 'position', 'topic']);
      assert.deepEqual(Object.keys(frame.event).sort(), ['data', 'occurredAt', 'type']);
      const { appendedAt, projectedAt, publishedAt, receivedAt, writtenAt } = hops ?? {};
      const stamps = [appendedAt, projectedAt, publishedAt, receivedAt, writtenAt];
      assert.ok(stamps.every(Number.isFinite), `every hop stamped: ${JSON.stringify(hops)}`);
      const times = stamps as number[];
      assert.ok(
        times.every((time, index) => index === 0 || time >= (times[index - 1] as number)),
        `appended ≤ projected ≤ published ≤ received ≤ written: ${JSON.stringify(hops)}`,
      );
      assert.ok((writtenAt as number) - (appendedAt as number) < 10_000);
      for (const hop of [
        'append_to_projected',
        'projected_to_published',
        'published_to_received',
        'received_to_socket',
      ]) {
        assert.ok((await hopCount(t, hop)) >= 1, hop);
      }
      assert.ok((await histogramCount(t, 'realtime_delta_latency_seconds')) >= 1);
    });

    it('times a delta read back from the store after a gap from its append only', async () => {
      const c = await customerWrites(t, org, secret);
      const deadline = Date.now() + 15_000;
      while (
        (await t.request('GET', `/api/v1/conversations/${c.id}`, { token: org.accessToken })).status !== 200
      ) {
        assert.ok(Date.now() < deadline, 'the conversation is projected');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const socket = await TestSocket.open(t.app.port, org.accessToken);
      const topic = `conversation:${c.id}`;
      socket.send({ op: 'subscribe', topic });
      await socket.next((frame) => frame.op === 'subscribed');
      const bus = t.app.deltaBus;
      const publish = bus.publish;
      let dropped = 0;
      // The first note's delta is lost on the way: the second one follows a gap.
      bus.publish = (batch) => {
        const kept = batch.filter((delta) => !(delta.conversationId === c.id && dropped++ === 0));
        publish.call(bus, kept);
      };
      const [latencyBefore, projectedBefore] = [
        await histogramCount(t, 'realtime_delta_latency_seconds'),
        await hopCount(t, 'append_to_projected'),
      ];
      try {
        for (const text of ['first', 'second']) {
          const answer = await t.request('POST', `/api/v1/conversations/${c.id}/notes`, {
            token: org.accessToken,
            body: { text },
          });
          assert.equal(answer.status, 200);
        }
        const notes = [
          await socket.next((frame) => frame.op === 'delta' && frame.topic === topic),
          await socket.next((frame) => frame.op === 'delta' && frame.topic === topic),
        ];
        assert.deepEqual(
          notes.map((frame) => frame.event.data.text),
          ['first', 'second'],
        );
      } finally {
        bus.publish = publish;
        socket.close();
      }
      assert.equal((await histogramCount(t, 'realtime_delta_latency_seconds')) - latencyBefore, 2);
      assert.equal((await hopCount(t, 'append_to_projected')) - projectedBefore, 0);
    });
  });

  describe('between nodes (Redis bus)', { skip: skipRedis }, () => {
    let t: TestApp;
    let org: TestChannel;
    before(async () => {
      t = await startTestApp('realtime_timing_redis', {
        META_APP_SECRET: secret,
        REDIS_URL: redisUrl,
        REDIS_KEY_PREFIX: testPrefix('timing'),
      });
      org = await orgWithChannel(t, 'timing-redis');
    });
    after(async () => {
      await t?.close();
    });

    it('keeps the stamps through Redis and adds when it was heard back', async () => {
      const deltas = heard(t);
      const { hops } = await deltaOnTheInbox(t, org, deltas);
      const { appendedAt, projectedAt, publishedAt, receivedAt, writtenAt } = hops ?? {};
      const times = [appendedAt, projectedAt, publishedAt, receivedAt, writtenAt];
      assert.ok(times.every(Number.isFinite), JSON.stringify(hops));
      assert.ok(
        (times as number[]).every((time, index) => index === 0 || time >= (times[index - 1] as number)),
        JSON.stringify(hops),
      );
      assert.ok((await hopCount(t, 'published_to_received')) >= 1);
    });
  });
});
