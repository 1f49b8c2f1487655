import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ConversationDelta } from '../../src/realtime/delta.ts';
import { parseClientFrame, parseTopic } from '../../src/realtime/frames.ts';
import { InboxFanout, RecentPositions } from '../../src/realtime/inboxFanout.ts';
import { idleTimeoutSeconds } from '../../src/realtime/realtimeGateway.ts';
import { SchemaRegistry } from '../../src/schemas/schemaRegistry.ts';

const registry = new SchemaRegistry();
const id = '0b8f7a8e-1c9d-4b1e-9a6e-0e8a6f0a2b3c';
const parse = (frame: unknown) =>
  parseClientFrame(registry, typeof frame === 'string' ? frame : JSON.stringify(frame));

describe('client frames', () => {
  it('accepts the frames of the contract', () => {
    for (const frame of [
      { op: 'ping' },
      { op: 'subscribe', topic: 'inbox' },
      { op: 'subscribe', topic: `conversation:${id}`, after: '12345678901234567890' },
      { op: 'unsubscribe', topic: `conversation:${id.toUpperCase()}` },
      { op: 'command', id: 'c1', type: 'Resolve', conversationId: id },
      { op: 'command', id: 'c2', type: 'Assign', conversationId: id, assigneeId: null, queueId: id },
      { op: 'command', id: 'c3', type: 'AddNote', conversationId: id, text: 'hi' },
      {
        op: 'command',
        id: 'c4',
        type: 'SendMessage',
        conversationId: id,
        message: { type: 'text', text: 'hi', clientMessageId: 'k1' },
      },
    ]) {
      assert.ok('frame' in parse(frame), JSON.stringify(frame));
    }
  });

  it('refuses anything else with invalid_frame, naming the field and the command id', () => {
    const cases: [unknown, string][] = [
      ['{nope', 'A frame must be one JSON object'],
      [[1, 2], '/ must be object'],
      [{ op: 'dance' }, '/op must be equal to one of the allowed values'],
      [{ op: 'subscribe', topic: 'conversation:42' }, '/topic must match pattern'],
      [{ op: 'subscribe', topic: 'inbox', after: '-1' }, '/after must match pattern'],
      [{ op: 'ping', extra: true }, '/extra must NOT have additional properties'],
      [{ op: 'command', id: 'c5', type: 'Resolve', conversationId: id, text: 'x' }, '/text must NOT have'],
      [
        { op: 'command', id: 'c6', type: 'AddNote', conversationId: id },
        "/text must have required property 'text'",
      ],
      [{ op: 'command', id: 'c7', type: 'Snooze', conversationId: id }, '/type must be equal to one of'],
    ];
    for (const [frame, message] of cases) {
      const parsed = parse(frame);
      assert.ok('error' in parsed, JSON.stringify(frame));
      assert.equal(parsed.error.code, 'invalid_frame');
      assert.ok(
        parsed.error.message.startsWith(message),
        `${parsed.error.message} for ${JSON.stringify(frame)}`,
      );
    }
    const withId = parse({ op: 'command', id: 'c9', type: 'Resolve' });
    assert.ok('error' in withId && withId.id === 'c9');
  });

  it('names topics with lower-cased ids', () => {
    assert.deepEqual(parseTopic('inbox'), { kind: 'inbox' });
    assert.deepEqual(parseTopic(`conversation:${id.toUpperCase()}`), {
      kind: 'conversation',
      conversationId: id,
    });
  });

  it('rounds the idle timeout to what uWS can keep', () => {
    assert.equal(idleTimeoutSeconds(8), 8);
    assert.equal(idleTimeoutSeconds(10), 12);
    assert.equal(idleTimeoutSeconds(120), 120);
    assert.equal(idleTimeoutSeconds(959), 960);
  });
});

const inboxDelta = (
  conversationId: string,
  position: number,
  audience: { assigneeIds: string[]; queueIds: string[] },
  organizationId = 'org-1',
): ConversationDelta => ({
  organizationId,
  conversationId,
  position: String(position),
  previous: null,
  event: { type: 'MessageReceived', data: {}, occurredAt: '2026-01-01T00:00:00.000Z' },
  inbox: { item: { id: conversationId, position: String(position) }, audience },
});

describe('inbox fan-out', () => {
  it('publishes once per organization, never an item older than one sent', () => {
    const published: [string, number][] = [];
    const fanout = new InboxFanout((topic, frame) =>
      published.push([topic, Number(JSON.parse(frame).position)]),
    );
    assert.equal(fanout.addEverything('org-1'), 'inbox/org-1');
    fanout.addEverything('org-1');
    const none = { assigneeIds: [], queueIds: [] };
    for (const [conversation, position] of [
      ['a', 5],
      ['a', 5],
      ['b', 3],
      ['a', 4],
      ['a', 9],
    ] as const) {
      fanout.route(inboxDelta(conversation, position, none));
    }
    fanout.route(inboxDelta('c', 1, none, 'org-2'));
    assert.deepEqual(published, [
      ['inbox/org-1', 5],
      ['inbox/org-1', 3],
      ['inbox/org-1', 9],
    ]);
    fanout.removeEverything('org-1');
    fanout.removeEverything('org-1');
    assert.equal(fanout.follows('org-1'), false);
  });

  it('sends a restricted agent only what names them or their queues, and what left their view', () => {
    const fanout = new InboxFanout(() => assert.fail('nobody sees everything'));
    const received: string[] = [];
    const agent = {
      userId: 'agent',
      queueIds: new Set(['sales']),
      send: (frame: string) =>
        received.push(`${JSON.parse(frame).event.data.id}@${JSON.parse(frame).position}`),
    };
    fanout.addRestricted('org-1', agent);
    fanout.route(inboxDelta('mine', 1, { assigneeIds: ['agent'], queueIds: [] }));
    fanout.route(inboxDelta('other', 2, { assigneeIds: ['someone'], queueIds: ['support'] }));
    fanout.route(inboxDelta('queue', 3, { assigneeIds: [], queueIds: ['sales'] }));
    fanout.route(inboxDelta('mine', 1, { assigneeIds: ['agent'], queueIds: [] }));
    fanout.resend(
      'org-1',
      { id: 'mine', position: '7', assigneeId: 'someone', queueId: null },
      {
        type: 'ConversationAssigned',
        occurredAt: '2026-01-01T00:00:00.000Z',
      },
    );
    fanout.resend(
      'org-1',
      { id: 'other', position: '8', assigneeId: 'someone', queueId: null },
      {
        type: 'ConversationAssigned',
        occurredAt: '2026-01-01T00:00:00.000Z',
      },
    );
    assert.deepEqual(received, ['mine@1', 'queue@3', 'mine@7']);
  });

  it('keeps a bounded memory of positions', () => {
    const recent = new RecentPositions(4);
    for (let index = 0; index < 10; index += 1) assert.ok(recent.advance(`c${index}`, 1n));
    assert.ok(recent.has('c9'));
    assert.ok(!recent.has('c0'));
    assert.ok(!recent.advance('c9', 1n));
  });
});
