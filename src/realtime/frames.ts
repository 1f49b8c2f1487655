import { AppError, type FieldError } from '../errors/catalogue.ts';
import type { SchemaRegistry } from '../schemas/schemaRegistry.ts';
import type { ConversationDelta } from './delta.ts';

/**
 * The agent console's frames (CONTRACT.md, "Agent console WebSocket"): what clients send, as
 * validated against schemas/ws/clientFrame, and the JSON text of what the server sends.
 */

export type Topic = { kind: 'inbox' } | { kind: 'conversation'; conversationId: string };

export type CommandType = 'SendMessage' | 'Assign' | 'Resolve' | 'Reopen' | 'AddNote';

export type CommandFrame = {
  op: 'command';
  id: string;
  type: CommandType;
  conversationId: string;
  message?: Record<string, unknown>;
  assigneeId?: string | null;
  queueId?: string | null;
  text?: string;
};

export type ClientFrame =
  | { op: 'subscribe'; topic: string; after?: string }
  | { op: 'unsubscribe'; topic: string }
  | { op: 'ping' }
  | CommandFrame;

const clientFrameSchema = 'ws/clientFrame';

/**
 * Text → a valid frame, or the AppError `invalid_frame` to answer with (carrying the command's id
 * when the frame had one, so the client can match the error to its command).
 */
export function parseClientFrame(
  registry: SchemaRegistry,
  text: string,
): { frame: ClientFrame } | { error: AppError; id?: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { error: new AppError('invalid_frame', 'A frame must be one JSON object') };
  }
  const errors = registry.validate(clientFrameSchema, value);
  if (errors.length === 0) return { frame: value as ClientFrame };
  const id = (value as { id?: unknown } | null)?.id;
  const relevant = dedupe(errors.filter((error) => !error.message.startsWith('must match "then"')));
  const first = relevant[0];
  const error = new AppError(
    'invalid_frame',
    first ? `${first.path} ${first.message}` : 'The frame does not match ws/clientFrame',
    relevant,
  );
  return typeof id === 'string' && id.length > 0 && id.length <= 200 ? { error, id } : { error };
}

function dedupe(errors: FieldError[]): FieldError[] {
  const seen = new Set<string>();
  return errors.filter((error) => {
    const key = `${error.path} ${error.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** `inbox` or `conversation:<uuid>` (the schema checked the shape already); ids are lower-cased. */
export function parseTopic(topic: string): Topic {
  if (topic === 'inbox') return { kind: 'inbox' };
  return { kind: 'conversation', conversationId: topic.slice('conversation:'.length).toLowerCase() };
}

export const topicName = (topic: Topic): string =>
  topic.kind === 'inbox' ? 'inbox' : `conversation:${topic.conversationId}`;

export function deltaFrame(topic: string, delta: ConversationDelta): string {
  return JSON.stringify({ op: 'delta', topic, position: delta.position, event: delta.event });
}

/** An inbox delta: the conversation's item after the event (only for deltas that carry one). */
export function inboxFrame(delta: ConversationDelta, item: Record<string, unknown>): string {
  return JSON.stringify({
    op: 'delta',
    topic: 'inbox',
    position: delta.position,
    event: { type: delta.event.type, data: item, occurredAt: delta.event.occurredAt },
  });
}

export const subscribedFrame = (topic: string, position: string | null): string =>
  JSON.stringify({ op: 'subscribed', topic, position });

export const pongFrame = JSON.stringify({ op: 'pong' });

export const ackFrame = (id: string, result: unknown): string => JSON.stringify({ op: 'ack', id, result });

/**
 * An error: the catalogue's code and the AppError's message (never an internal error's); `topic` when
 * a subscription ended or was refused, `errors` when fields were wrong.
 */
export function errorFrame(error: AppError, extra: { id?: string; topic?: string } = {}): string {
  return JSON.stringify({
    op: 'error',
    ...(extra.id === undefined ? {} : { id: extra.id }),
    code: error.code,
    message: error.message,
    ...(extra.topic === undefined ? {} : { topic: extra.topic }),
    ...(error.errors.length > 0 ? { errors: error.errors } : {}),
  });
}
