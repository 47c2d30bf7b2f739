-- Fewer round trips per booking request (issue 17, CPU per request): a hold is one statement,
-- confirm and cancel are BEGIN, one locking read, one write, COMMIT (ticketing/store.py).
--
-- Idempotency-Key (maas/idempotency.py): a request claims its key with a transaction-level
-- advisory lock (class 1652, hash of scope and key) and reads the stored response after it;
-- the response row is inserted once, complete, by the statement that writes the request's
-- effects. A concurrent duplicate waits on the lock until the first commits (or rolls back),
-- then reads the row as committed (a VOLATILE function's statements each take a new
-- snapshot) and replays it: the same behaviour as the former claim row, one write less.

-- Segment lock keys (ticketing/store.py `_lock_id`) of a held leg, written by the hold, so
-- confirm takes the segment locks in the same statement that locks the booking. NULL (legs
-- written before this column, or by other writers): the caller computes and takes them.
ALTER TABLE booking_legs ADD COLUMN IF NOT EXISTS lock_ids integer[];

-- Claim an Idempotency-Key for this transaction; the stored response if the key was used.
CREATE OR REPLACE FUNCTION maas_idempotency_claim(p_scope text, p_key text)
RETURNS SETOF idempotency_keys LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(1652, hashtext(p_scope || E'\n' || p_key));
    RETURN QUERY SELECT * FROM idempotency_keys k WHERE k.scope = p_scope AND k.key = p_key;
END
$$;

-- The booking locked for confirm or cancel, with its legs (locked too), passengers and, with
-- p_tickets, its tickets: one row per leg in leg order (ticketing/store.py `_LOCKED` explains
-- the locks: a locking read that waited for another writer returns the rows that writer left;
-- the tickets, not locked, are read by a statement after the locks). With p_scope, the
-- Idempotency-Key is claimed first (a stored response: one row with only `replay`); with
-- p_segments, then the segment locks of its held legs (their lock_ids, ascending), unless a
-- held leg has none (the caller takes them all).
CREATE OR REPLACE FUNCTION maas_booking_locked(p_booking text, p_account text, p_scope text,
                                               p_key text, p_segments boolean, p_tickets boolean)
RETURNS TABLE (-- the booking's columns (a composite with jsonb fields would not decode)
               id text, account_id text, status text, itinerary_id text, feed_versions jsonb,
               passenger_count int, passenger_categories text[], currency text,
               total_minor bigint, paid_minor bigint, refund_minor bigint,
               expires_at timestamptz, payment_ref text, created_at timestamptz,
               updated_at timestamptz, confirmed_at timestamptz, cancelled_at timestamptz,
               modes text[], wheelchair boolean, max_walk_m double precision,
               min_transfer_s int, protection jsonb, profile jsonb,
               leg booking_legs, pax booking_passengers[], tickets tickets[],
               replay idempotency_keys)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
BEGIN
    IF p_scope IS NOT NULL THEN
        PERFORM pg_advisory_xact_lock(1652, hashtext(p_scope || E'\n' || p_key));
        SELECT k.* INTO replay FROM idempotency_keys k WHERE k.scope = p_scope AND k.key = p_key;
        IF FOUND THEN
            RETURN NEXT;
            RETURN;
        END IF;
    END IF;
    IF p_tickets THEN
        PERFORM 1 FROM bookings bk JOIN booking_legs l ON l.booking_id = bk.id
        WHERE bk.id = p_booking AND (p_account IS NULL OR bk.account_id = p_account)
        FOR UPDATE OF bk FOR NO KEY UPDATE OF l;
        RETURN QUERY
            SELECT bk.id, bk.account_id, bk.status, bk.itinerary_id, bk.feed_versions,
               bk.passenger_count, bk.passenger_categories, bk.currency, bk.total_minor,
               bk.paid_minor, bk.refund_minor, bk.expires_at, bk.payment_ref, bk.created_at,
               bk.updated_at, bk.confirmed_at, bk.cancelled_at, bk.modes, bk.wheelchair,
               bk.max_walk_m, bk.min_transfer_s, bk.protection, bk.profile, l,
               (SELECT array_agg(p ORDER BY p.passenger_no) FROM booking_passengers p
                 WHERE p.booking_id = bk.id),
                   (SELECT array_agg(k ORDER BY k.leg_no, k.passenger_no) FROM tickets k
                     WHERE k.booking_id = bk.id),
                   NULL::idempotency_keys
            FROM bookings bk JOIN booking_legs l ON l.booking_id = bk.id
            WHERE bk.id = p_booking AND (p_account IS NULL OR bk.account_id = p_account)
            ORDER BY l.leg_no;
    ELSE
        RETURN QUERY
            SELECT bk.id, bk.account_id, bk.status, bk.itinerary_id, bk.feed_versions,
               bk.passenger_count, bk.passenger_categories, bk.currency, bk.total_minor,
               bk.paid_minor, bk.refund_minor, bk.expires_at, bk.payment_ref, bk.created_at,
               bk.updated_at, bk.confirmed_at, bk.cancelled_at, bk.modes, bk.wheelchair,
               bk.max_walk_m, bk.min_transfer_s, bk.protection, bk.profile, l,
               (SELECT array_agg(p ORDER BY p.passenger_no) FROM booking_passengers p
                 WHERE p.booking_id = bk.id),
                   NULL::tickets[], NULL::idempotency_keys
            FROM bookings bk JOIN booking_legs l ON l.booking_id = bk.id
            WHERE bk.id = p_booking AND (p_account IS NULL OR bk.account_id = p_account)
            ORDER BY l.leg_no
            FOR UPDATE OF bk FOR NO KEY UPDATE OF l;
    END IF;
    IF p_segments AND FOUND THEN
        -- (no status test in a WHERE: a generic plan could then read the partial occupancy
        -- index instead of the booking's legs; see ticketing/store.py `_issue`)
        PERFORM pg_advisory_xact_lock(1651, s.k)
        FROM (SELECT DISTINCT unnest(CASE WHEN l.status = 'held' THEN l.lock_ids END) AS k
              FROM booking_legs l WHERE l.booking_id = p_booking) s
        WHERE (SELECT bool_and(l.status <> 'held' OR l.lock_ids IS NOT NULL)
               FROM booking_legs l WHERE l.booking_id = p_booking)
        ORDER BY s.k;
    END IF;
END
$$;

-- A hold in one statement: the Idempotency-Key claimed (p_scope; a stored response is
-- returned as `replay`, nothing else done), the segments locked (p_locks, ascending), seats
-- counted per (leg, segment) pair after the locks, each leg's capacity (its trip's override,
-- its GTFS trip's, its route's, else p_cap from the settings: ticketing/inventory.py
-- `capacity_for`); the first leg lacking seats is returned as `short_leg` and nothing is
-- written; else the booking, passengers, legs, the hold event and the key's response.
-- $1-$43: ticketing/store.py `_HOLD_ARGS` (the former insert's parameters).
CREATE OR REPLACE FUNCTION maas_hold(
    text, text, text, text, jsonb, int[], text[], text, bigint, timestamptz, timestamptz,
    text[], text[], bytea[], bytea[], text[], text[], int[], text[], text[], text[], text[],
    text[], text[], date[], int[], int[], text[], text[], timestamptz[], timestamptz[],
    bigint[], text[], bigint[], jsonb, bytea[], text[], text[], boolean, double precision,
    int, int[], jsonb,
    p_scope text, p_key text, p_hash bytea, p_status int, p_body bytea, p_ctype text,
    p_locks int[], p_leg int[], p_trip text[], p_date date[], p_seg int[], p_need int[],
    p_lock int[], p_cap int[])
RETURNS TABLE (short_leg int, replay idempotency_keys)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    stored idempotency_keys;
    v_short int;
    written boolean;
    found_ record;
BEGIN
    -- the key's claim first, then the segments (one lock order everywhere: key, booking, segments)
    PERFORM pg_advisory_xact_lock(u.c, u.k)
    FROM (SELECT 1652 AS c, hashtext(p_scope || E'\n' || p_key) AS k, 0::bigint AS i
          WHERE p_scope IS NOT NULL
          UNION ALL SELECT 1651, v.k, v.i FROM unnest(p_locks) WITH ORDINALITY AS v(k, i)) u
    ORDER BY u.i;
    -- after the locks (a new snapshot): a duplicate's key, and every hold we could race with,
    -- are committed or waiting
    SELECT (SELECT k FROM idempotency_keys k WHERE k.scope = p_scope AND k.key = p_key) AS used,
           (SELECT min(pr.leg_no)
            FROM unnest(p_leg, p_trip, p_date, p_seg, p_need)
                 AS pr(leg_no, trip_id, service_date, seg, need)
            JOIN unnest($18, $24, $23, p_cap) AS lg(leg_no, trip_id, route_id, cap) USING (leg_no)
            WHERE (SELECT coalesce(sum(l.passengers), 0) FROM booking_legs l
                   WHERE l.trip_id = pr.trip_id AND l.service_date = pr.service_date
                     AND l.board_pos <= pr.seg AND l.alight_pos > pr.seg
                     AND l.status IN ('held', 'confirmed')
                     AND (l.status = 'confirmed' OR l.hold_until > $11))
                  + pr.need >
                  coalesce((SELECT c.seats FROM seat_capacity c
                             WHERE c.scope = 'trip' AND c.ref_id = lg.trip_id),
                           (SELECT c.seats FROM seat_capacity c
                             WHERE c.scope = 'trip' AND c.ref_id = split_part(lg.trip_id, '@', 1)),
                           (SELECT c.seats FROM seat_capacity c
                             WHERE c.scope = 'route' AND c.ref_id = lg.route_id),
                           lg.cap)) AS short_leg
    INTO found_;
    stored := found_.used;
    v_short := found_.short_leg;
    IF stored.scope IS NOT NULL OR v_short IS NOT NULL THEN
        RETURN QUERY SELECT v_short, stored;   -- a used key (nothing checked) or a short leg
        RETURN;
    END IF;
    WITH bk AS (
        INSERT INTO bookings (id, account_id, status, itinerary_id, feed_versions,
            passenger_count, passenger_categories, currency, total_minor, expires_at, created_at,
            updated_at, modes, wheelchair, max_walk_m, min_transfer_s, profile)
        VALUES ($1, $2, $3, $4, $5, cardinality($7), $7, $8, $9, $10, $11, $11, $38, $39, $40,
                $41, $43)),
      px AS (
        INSERT INTO booking_passengers (booking_id, passenger_no, category, id_type, key_id,
            name_ct, id_number_ct, name_masked, id_masked, id_index, id_index_key)
        SELECT $1, * FROM unnest($6, $7, $12, $13, $14, $15, $16, $17, $36, $37)),
      lg AS (
        INSERT INTO booking_legs (booking_id, leg_no, status, feed, agency_id, agency_name, mode,
            route_id, trip_id, service_date, board_pos, alight_pos, from_stop, to_stop,
            departure, arrival, passengers, hold_until, unit_minor, price_source, price_minor,
            connection_s, lock_ids)
        SELECT $1, u.leg_no, 'held', u.feed, u.agency_id, u.agency_name, u.mode, u.route_id,
               u.trip_id, u.service_date, u.board_pos, u.alight_pos, u.from_stop, u.to_stop,
               u.departure, u.arrival, cardinality($7), $10, u.unit_minor, u.price_source,
               u.price_minor, u.connection_s,
               (SELECT array_agg(DISTINCT x.k) FROM unnest(p_leg, p_lock) AS x(leg_no, k)
                 WHERE x.leg_no = u.leg_no)
        FROM unnest($18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32,
                    $33, $34, $42)
             AS u(leg_no, feed, agency_id, agency_name, mode, route_id, trip_id, service_date,
                  board_pos, alight_pos, from_stop, to_stop, departure, arrival, unit_minor,
                  price_source, price_minor, connection_s)),
      ik AS (
        INSERT INTO idempotency_keys (scope, key, request_hash, status, body, content_type)
        SELECT p_scope, p_key, p_hash, p_status, p_body, p_ctype WHERE p_scope IS NOT NULL
        ON CONFLICT DO NOTHING RETURNING 1)
    INSERT INTO booking_events (booking_id, event, from_status, to_status, detail, occurred_at)
    VALUES ($1, 'hold', NULL, $3, $35, $11)
    RETURNING p_scope IS NULL OR EXISTS (SELECT FROM ik) INTO written;
    IF NOT written THEN   -- the key's row was written meanwhile without its claim: undo, replay
        RAISE EXCEPTION 'maas_idempotency_race';
    END IF;
    RETURN QUERY SELECT NULL::int, NULL::idempotency_keys;
END
$$;
