-- es.append_batch, set-based. The first version (0002) handled a batch's requests one at a time in
-- PL/pgSQL, which capped group commit well below a plain INSERT. The common batch (every stream
-- once, every event id new) now costs one statement per step for the whole batch; anything else (a
-- retried append, a stream or an event id twice in one batch) takes the row-by-row path, which is
-- the 0002 function unchanged, renamed. Same signature, same results in every case.
-- The stream locks come before the duplicate-id check, so a retry racing its uncommitted original
-- waits for it and answers "duplicate"; each request's last position comes from one grouped join
-- (a scan of the inserted rows per request was quadratic in the batch size).
ALTER FUNCTION es.append_batch(text[], text[], bigint[], int[], uuid[], text[], jsonb[], jsonb[])
  RENAME TO append_batch_row_by_row;

CREATE FUNCTION es.append_batch(
  p_streams text[],
  p_categories text[],
  p_expected bigint[],
  p_counts int[],
  p_ids uuid[],
  p_types text[],
  p_data jsonb[],
  p_metadata jsonb[]
) RETURNS TABLE (ord int, outcome text, stream_revision bigint, last_position bigint)
LANGUAGE plpgsql AS $$
BEGIN
  -- 1. Lock every stream, in one fixed order, before looking at anything (see 0002 for why):
  --    a retry racing its still-uncommitted original then waits for it, and sees its events.
  PERFORM pg_advisory_xact_lock(1702, k)
     FROM (SELECT DISTINCT hashtext(s) AS k FROM unnest(p_streams) AS s ORDER BY 1) AS keys;

  -- 2. Rare cases go row by row (re-taking the locks it holds already is free): a stream twice in
  --    the batch, an event id twice in the batch or already stored, an empty request.
  IF (SELECT count(DISTINCT s) FROM unnest(p_streams) AS s) <> coalesce(array_length(p_streams, 1), 0)
     OR (SELECT count(DISTINCT i) FROM unnest(p_ids) AS i) <> coalesce(array_length(p_ids, 1), 0)
     OR 0 = ANY (p_counts)
     OR EXISTS (SELECT 1 FROM es.events e WHERE e.event_id = ANY (p_ids)) THEN
    RETURN QUERY SELECT * FROM es.append_batch_row_by_row(
      p_streams, p_categories, p_expected, p_counts, p_ids, p_types, p_data, p_metadata);
    RETURN;
  END IF;

  -- 3-6 in one statement: each request with its stream's revision and verdict, the accepted
  -- requests' events (in request order, consecutive revisions), the streams' new revisions, and one
  -- outcome per request.
  RETURN QUERY
  WITH requests AS (
    SELECT r.ord::int AS ord, r.stream_name, r.category, r.n,
           (sum(r.n) OVER (ORDER BY r.ord) - r.n + 1)::int AS first_index,
           coalesce(st.revision, -1) AS current_revision,
           CASE r.expected
             WHEN -2 THEN true
             WHEN -1 THEN st.revision IS NULL
             WHEN -3 THEN st.revision IS NOT NULL
             ELSE st.revision IS NOT DISTINCT FROM r.expected
           END AS ok
      FROM unnest(p_streams, p_categories, p_expected, p_counts) WITH ORDINALITY AS r(stream_name, category, expected, n, ord)
      LEFT JOIN es.streams st ON st.stream_name = r.stream_name
  ),
  inserted AS (
    INSERT INTO es.events (event_id, stream_name, category, revision, type, data, metadata)
    SELECT p_ids[i], q.stream_name, q.category, q.current_revision + 1 + (i - q.first_index),
           p_types[i], p_data[i], p_metadata[i]
      FROM requests q, generate_series(q.first_index, q.first_index + q.n - 1) AS i
     WHERE q.ok
     ORDER BY q.ord, i
    RETURNING es.events.stream_name, es.events.position
  ),
  moved AS (
    INSERT INTO es.streams AS st (stream_name, category, revision)
    SELECT q.stream_name, q.category, q.current_revision + q.n FROM requests q WHERE q.ok
    ON CONFLICT (stream_name) DO UPDATE SET revision = excluded.revision, updated_at = now()
  )
  SELECT q.ord,
         CASE WHEN q.ok THEN 'ok' ELSE 'wrong_expected_revision' END,
         CASE WHEN q.ok THEN q.current_revision + q.n ELSE q.current_revision END,
         x.last_position
    FROM requests q
    LEFT JOIN (SELECT i.stream_name, max(i.position) AS last_position FROM inserted i GROUP BY i.stream_name) x
      ON x.stream_name = q.stream_name
   ORDER BY q.ord;
END;
$$;
