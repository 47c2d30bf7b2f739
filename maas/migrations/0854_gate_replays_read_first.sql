-- Less work per online replay (a scan of a leg already entered: `already_used`) and per batch
-- of accepts (issue 17, CPU per request).
--
-- 1. Both gate statements read whether the leg already has a tap together with the leg itself
--    (one more probe of gate_taps_booking_id_leg_no_key), and a leg entered in the statement's
--    snapshot answers 1 (already_used) without trying the insert: no speculative insertion
--    into both unique indexes and, in a batch, no second statement to tell which key
--    conflicted. A tap is never deleted, so a leg seen entered is entered. A leg not seen
--    entered is inserted as before (ON CONFLICT waits for a racing insert to commit and the
--    answer is read afterwards), so every item still gets what it got: 0 not (any more)
--    eligible, 1 already entered, 2 entered, 3 (a batch) its step already burned.
-- 2. The batch takes six arrays instead of eight: a tap's id is made here
--    (gen_random_uuid(), the form Python's str(uuid4()) writes) for the items actually
--    inserted rather than sent for every item, replays included, and a step is burned exactly
--    when there is one (p_burn[i] was always p_steps[i] IS NOT NULL). Each array is ~10 us of
--    the worker's CPU to encode (asyncpg checks every element against the collections ABCs).
--    An upgrade that brings migrations stops every instance first (deploy/README.md), so no
--    server of the previous release still calls the eight-array form: it is dropped.
CREATE OR REPLACE FUNCTION maas_gate_tap(p_tap text, p_booking text, p_leg integer, p_gate text,
                                         p_station text, p_method text, p_step bigint,
                                         p_now timestamptz, p_burn boolean)
RETURNS integer LANGUAGE plpgsql VOLATILE SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    v_from text;
    v_entered boolean;
BEGIN
    SELECT l.from_stop,
           EXISTS (SELECT 1 FROM gate_taps t WHERE t.booking_id = p_booking AND t.leg_no = p_leg)
      INTO v_from, v_entered
      FROM booking_legs l JOIN bookings b ON b.id = l.booking_id
     WHERE l.booking_id = p_booking AND l.leg_no = p_leg
       AND l.status = 'confirmed' AND b.status = 'confirmed';
    IF NOT FOUND THEN
        RETURN 0;
    END IF;
    IF v_entered THEN
        RETURN 1;
    END IF;
    -- the tap's station is where the leg boards (the gate's station or one of its platforms)
    INSERT INTO gate_taps (tap_id, booking_id, leg_no, gate_id, station, method, online,
                           totp_step, tapped_at, recorded_at, burned_step)
    VALUES (p_tap, p_booking, p_leg, p_gate, coalesce(v_from, p_station), p_method, true,
            p_step, p_now, p_now, CASE WHEN p_burn THEN p_step END)
    ON CONFLICT (booking_id, leg_no) DO NOTHING;
    IF NOT FOUND THEN
        RETURN 1;
    END IF;
    RETURN 2;
END $$;

DROP FUNCTION IF EXISTS maas_gate_taps(text[], text[], integer[], text[], text[], bigint[],
                                       boolean[], timestamptz[]);

-- As maas_gate_taps of migration 0839 (its comment holds), with the two changes above.
CREATE OR REPLACE FUNCTION maas_gate_taps(p_bookings text[], p_legs integer[], p_gates text[],
                                          p_stations text[], p_steps bigint[],
                                          p_now timestamptz[])
RETURNS integer[] LANGUAGE plpgsql VOLATILE SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    v_got integer[];
BEGIN
    WITH i AS (
        -- per item, by the keys (OFFSET 0: never pulled up into a hash join scanning the
        -- tables); the statuses are read, never filtered in a WHERE clause a generic plan
        -- could answer through a partial index on status (booking_legs_occupancy)
        SELECT u.*, ok.from_stop, coalesce(ok.confirmed, false) AS eligible,
               coalesce(ok.entered, false) AS entered
          FROM unnest(p_bookings, p_legs, p_gates, p_stations, p_steps, p_now)
               WITH ORDINALITY AS u(booking, leg, gate, station, step, at, n)
          LEFT JOIN LATERAL (
               SELECT l.from_stop, l.status = 'confirmed' AND b.status = 'confirmed' AS confirmed,
                      EXISTS (SELECT 1 FROM gate_taps t
                               WHERE t.booking_id = u.booking AND t.leg_no = u.leg) AS entered
                 FROM booking_legs l JOIN bookings b ON b.id = l.booking_id
                WHERE l.booking_id = u.booking AND l.leg_no = u.leg OFFSET 0) ok ON true),
    todo AS (
        -- the items to insert, each with its new tap's id (the CTE is materialised once)
        SELECT gen_random_uuid()::text AS tap, * FROM i WHERE eligible AND NOT entered),
    tap AS (
        -- the tap's station is where the leg boards (the gate's station or one of its platforms)
        INSERT INTO gate_taps (tap_id, booking_id, leg_no, gate_id, station, method, online,
                               totp_step, tapped_at, recorded_at, burned_step)
        SELECT tap, booking, leg, gate, coalesce(from_stop, station), 'qr', true, step, at, at,
               step
          FROM todo ORDER BY n
        ON CONFLICT DO NOTHING
        RETURNING tap_id)
    SELECT array_agg(CASE WHEN NOT i.eligible THEN 0
                          WHEN i.entered THEN 1
                          WHEN i.n IN (SELECT todo.n FROM todo JOIN tap ON tap.tap_id = todo.tap)
                          THEN 2 ELSE -1 END ORDER BY i.n)
      INTO v_got FROM i;
    IF -1 = ANY (v_got) THEN
        SELECT array_agg(CASE WHEN g.r <> -1 THEN g.r
                              WHEN EXISTS (SELECT 1 FROM gate_taps t
                                            WHERE t.booking_id = p_bookings[g.n]
                                              AND t.leg_no = p_legs[g.n]) THEN 1
                              ELSE 3 END ORDER BY g.n)
          INTO v_got FROM unnest(v_got) WITH ORDINALITY AS g(r, n);
    END IF;
    RETURN v_got;
END $$;
