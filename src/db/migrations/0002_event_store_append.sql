-- Appends a batch of (stream, expected revision, events) requests in one round trip and one
-- transaction (group commit). Each request succeeds or fails on its own; the result row `ord`
-- tells which. p_expected: -1 no_stream, -2 any, -3 stream_exists, >= 0 the stream's last revision.
-- Events are flattened: request i owns the next p_counts[i] entries of the p_ids/p_types/... arrays.
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
DECLARE
  lock_key int;
  i int;
  first_index int := 1;
  last_index int;
  current_revision bigint;
  found_count int;
  found_in_place boolean;
  found_revision bigint;
  found_position bigint;
BEGIN
  -- 1. Lock every stream of the batch, in one fixed order (no deadlock between two batches), before
  --    the first write. The transaction id is taken at the first write, so it is greater than that
  --    of every earlier writer of these streams: $all order (transaction_id, position) then agrees
  --    with each stream's revision order. Advisory locks need no transaction id themselves.
  FOR lock_key IN SELECT DISTINCT hashtext(s) FROM unnest(p_streams) AS s ORDER BY 1 LOOP
    PERFORM pg_advisory_xact_lock(1702, lock_key);
  END LOOP;

  FOR i IN 1 .. coalesce(array_length(p_streams, 1), 0) LOOP
    last_index := first_index + p_counts[i] - 1;

    -- 2. A retried append (same event ids, same stream, same order) succeeds and stores nothing.
    SELECT count(*)::int,
           coalesce(bool_and(e.stream_name = p_streams[i]), false)
             AND max(e.revision) - min(e.revision) + 1 = count(*),
           max(e.revision), max(e.position)
      INTO found_count, found_in_place, found_revision, found_position
      FROM es.events e
     WHERE e.event_id = ANY (p_ids[first_index:last_index]);

    IF found_count = p_counts[i] AND found_in_place THEN
      ord := i; outcome := 'duplicate'; stream_revision := found_revision; last_position := found_position;
      RETURN NEXT;
    ELSIF found_count > 0 THEN
      ord := i; outcome := 'duplicate_id'; stream_revision := NULL; last_position := NULL;
      RETURN NEXT;
    ELSE
      -- 3. Check the expected revision.
      SELECT st.revision INTO current_revision FROM es.streams st WHERE st.stream_name = p_streams[i];
      current_revision := coalesce(current_revision, -1);
      IF (p_expected[i] = -1 AND current_revision <> -1)
         OR (p_expected[i] = -3 AND current_revision = -1)
         OR (p_expected[i] >= 0 AND current_revision <> p_expected[i]) THEN
        ord := i; outcome := 'wrong_expected_revision'; stream_revision := current_revision; last_position := NULL;
        RETURN NEXT;
      ELSE
        -- 4. Write the events with consecutive revisions, then move the stream's revision.
        WITH inserted AS (
          INSERT INTO es.events (event_id, stream_name, category, revision, type, data, metadata)
          SELECT u.id, p_streams[i], p_categories[i], current_revision + u.k, u.type, u.data, u.metadata
            FROM unnest(p_ids[first_index:last_index], p_types[first_index:last_index],
                        p_data[first_index:last_index], p_metadata[first_index:last_index])
                 WITH ORDINALITY AS u(id, type, data, metadata, k)
           ORDER BY u.k
          RETURNING position
        )
        SELECT max(position) INTO last_position FROM inserted;

        INSERT INTO es.streams AS st (stream_name, category, revision)
        VALUES (p_streams[i], p_categories[i], current_revision + p_counts[i])
        ON CONFLICT (stream_name) DO UPDATE SET revision = excluded.revision, updated_at = now();

        ord := i; outcome := 'ok'; stream_revision := current_revision + p_counts[i];
        RETURN NEXT;
      END IF;
    END IF;
    first_index := last_index + 1;
  END LOOP;
END;
$$;
