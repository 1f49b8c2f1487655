import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { startTestApp, type TestApp } from '../support/app.ts';
import { customerWrites, orgWithChannel, type TestChannel } from '../support/whatsapp.ts';
import { type Frame, TestSocket } from './wsClient.ts';

const secret = 'resume-app-secret';

/** The positions of a stream's events after `after`, in stream order: what a resume must send. */
async function storedPositions(url: string, stream: string, after: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ position: string }>(
      'SELECT position::text FROM es.events WHERE stream_name = $1 AND position > $2 ORDER BY revision',
      [stream, after],
    );
    return rows.map((row) => row.position);
  } finally {
    await client.end();
  }
}

describe('resuming a conversation topic with after', { timeout: 180_000 }, () => {
  let t: TestApp;
  let org: TestChannel;
  before(async () => {
    // A small buffer limit, so the catch-up has to wait for the socket to drain on the way.
    t = await startTestApp('realtime_resume', { META_APP_SECRET: secret, WS_MAX_BUFFER_BYTES: '65536' });
    org = await orgWithChannel(t, 'resume');
  });
  after(async () => {
    await t?.close();
  });

  /** A conversation a customer opened, once the read model shows it (topics are authorised there). */
  const conversation = async () => {
    const c = await customerWrites(t, org, secret);
    for (let tries = 0; ; tries += 1) {
      const answer = await t.request('GET', `/api/v1/conversations/${c.id}`, { token: org.accessToken });
      if (answer.status === 200) return c;
      assert.ok(tries < 200, `conversation ${c.id} never projected`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  };

  const notes = async (conversationId: string, count: number, label: string) => {
    for (let start = 0; start < count; start += 25) {
      const batch = Array.from({ length: Math.min(25, count - start) }, (_, index) =>
        t.request('POST', `/api/v1/conversations/${conversationId}/notes`, {
          token: org.accessToken,
          body: { text: `${label} ${start + index}` },
        }),
      );
      for (const answer of await Promise.all(batch)) assert.equal(answer.status, 200);
    }
  };

  it('sends exactly the 500 events missed while away, in order, then the live ones, none twice', async () => {
    const c = await conversation();
    const topic = `conversation:${c.id}`;
    const first = await TestSocket.open(t.app.port, org.accessToken);
    first.send({ op: 'subscribe', topic });
    const subscribed = await first.next((frame) => frame.op === 'subscribed');
    await notes(c.id, 3, 'seen');
    let last: string = subscribed.position;
    for (let seen = 0; seen < 3; seen += 1)
      last = (await first.next((frame) => frame.op === 'delta')).position;
    first.close();
    await first.closed;

    await notes(c.id, 500, 'missed');
    const missed = await storedPositions(t.db.url, c.stream, last);
    assert.equal(missed.length, 500);

    const socket = await TestSocket.open(t.app.port, org.accessToken);
    socket.send({ op: 'subscribe', topic, after: last });
    // More events while the catch-up is under way: the hand-over to the live stream must not lose or
    // repeat any of them.
    const during = notes(c.id, 50, 'during');
    const received: Frame[] = [];
    while (received.length < 550) {
      received.push(await socket.next((frame) => frame.op === 'delta' && frame.topic === topic, 30_000));
    }
    await during;
    const expected = await storedPositions(t.db.url, c.stream, last);
    assert.equal(expected.length, 550);
    assert.deepEqual(
      received.map((frame) => frame.position),
      expected,
    );
    // Notes sent 25 at a time land in any order within their batch: compare the sets.
    assert.deepEqual(
      received
        .slice(0, 500)
        .map((frame) => frame.event.data.text)
        .sort(),
      Array.from({ length: 500 }, (_, index) => `missed ${index}`).sort(),
    );

    await notes(c.id, 1, 'live');
    const live = await socket.next((frame) => frame.op === 'delta');
    assert.equal(live.event.data.text, 'live 0');
    await socket.roundTrip();
    assert.equal(socket.frames.filter((frame) => frame.op === 'delta').length, 551, 'nothing more');
    assert.ok(!socket.frames.some((frame) => frame.op === 'error'));
    socket.close();
  });

  it('refuses a position past the conversation’s newest event', async () => {
    const c = await conversation();
    const socket = await TestSocket.open(t.app.port, org.accessToken);
    socket.send({ op: 'subscribe', topic: `conversation:${c.id}`, after: '99999999999' });
    const refused = await socket.next((frame) => frame.op === 'error');
    assert.equal(refused.code, 'eventstore.unknown_position');
    socket.close();
  });
});
