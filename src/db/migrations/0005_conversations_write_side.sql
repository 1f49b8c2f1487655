-- Conversations, write side: a per-channel send rate, and the outbound sender's work queue.

-- Messages per second this number may send; null takes OUTBOUND_RATE_PER_SECOND.
ALTER TABLE rm.channels ADD COLUMN send_rate_per_second integer;

-- Outbound messages queued and not yet sent or failed, kept by the `outbound` projection (the only
-- writer) from MessageQueued / MessageSendAttempted / MessageSendDeferred / MessageSent / MessageFailed.
-- The sender reads the head of each conversation's queue (lowest stream revision) across tenants: it
-- is a system component, so this table sits outside `rm` and its row-level security.
CREATE SCHEMA IF NOT EXISTS outbound;
CREATE TABLE outbound.pending (
  conversation_id uuid NOT NULL,
  revision bigint NOT NULL,
  message_id uuid NOT NULL UNIQUE,
  organization_id uuid NOT NULL,
  channel_id uuid NOT NULL,
  recipient text NOT NULL,
  content jsonb NOT NULL,
  reply_to text,
  queued_at timestamptz NOT NULL,
  attempts integer NOT NULL DEFAULT 0,
  -- Set by an attempt, cleared by its outcome: an attempt left open by a crashed process is in doubt.
  attempt_started_at timestamptz,
  next_attempt_at timestamptz NOT NULL,
  PRIMARY KEY (conversation_id, revision)
);
CREATE INDEX pending_due_idx ON outbound.pending (next_attempt_at);

-- Conversations' timers (a snooze's end), kept by the `conversation-timers` projection; a worker
-- sends each due one to its conversation as a command.
CREATE SCHEMA IF NOT EXISTS scheduling;
CREATE TABLE scheduling.conversation_timers (
  conversation_id uuid NOT NULL,
  kind text NOT NULL,
  organization_id uuid NOT NULL,
  due_at timestamptz NOT NULL,
  PRIMARY KEY (conversation_id, kind)
);
CREATE INDEX conversation_timers_due_idx ON scheduling.conversation_timers (due_at);
