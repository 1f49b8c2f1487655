-- The Postgres event store (src/eventstore/postgresEventStore.ts explains the reading rules).
CREATE SCHEMA IF NOT EXISTS es;

-- One row per stream: its last revision. Appends check and move it under a per-stream lock.
CREATE TABLE es.streams (
  stream_name text PRIMARY KEY,
  category text NOT NULL,
  revision bigint NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- position is unique and increasing in insert order, but NOT in commit order: readers of $all
-- order by (transaction_id, position) and stop below the oldest transaction still running.
CREATE TABLE es.events (
  position bigserial PRIMARY KEY,
  transaction_id xid8 NOT NULL DEFAULT pg_current_xact_id(),
  event_id uuid NOT NULL,
  stream_name text NOT NULL,
  category text NOT NULL,
  revision bigint NOT NULL,
  type text NOT NULL,
  data jsonb NOT NULL,
  metadata jsonb NOT NULL,
  recorded_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT events_event_id_key UNIQUE (event_id),
  CONSTRAINT events_stream_revision_key UNIQUE (stream_name, revision)
);

CREATE INDEX events_all_order_idx ON es.events (transaction_id, position);
