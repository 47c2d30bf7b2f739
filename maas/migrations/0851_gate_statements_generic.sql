-- The gate's accept and a booking's first token as functions planned generically (issue 17,
-- CPU per request). PostgreSQL plans a prepared statement anew for its first five executions
-- on each connection (custom plans, ~0.3 ms each for these, measured on fresh connections)
-- before it settles on a generic one; a pool spreads a burst of scans or first tokens over
-- all its connections, so most executions of a short burst were custom-planned. Inside these
-- functions every statement is planned once per connection (`plan_cache_mode =
-- force_generic_plan`, only for their own statements); after warm-up the two are the same.
-- Neither statement filters booking_legs by status in a WHERE clause a generic plan could
-- answer with a partial index (booking_legs_confirmed_run: thousands of entries per call).

-- An online QR accept (ticketing/checkin_store.py record_tap): enter `p_leg` if booking and
-- leg are confirmed, burning `p_step` (unless NULL). 0: not (any more) eligible; 1: eligible,
-- the leg was already entered; 2: entered. A step already burned for the booking is a unique
-- violation on gate_taps_burned_step (migration 0850) that rolls the tap back.
CREATE OR REPLACE FUNCTION maas_gate_tap(p_tap text, p_booking text, p_leg integer, p_gate text,
                                         p_station text, p_method text, p_step bigint,
                                         p_now timestamptz, p_burn boolean)
RETURNS integer LANGUAGE plpgsql VOLATILE SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    v_from text;
BEGIN
    SELECT l.from_stop INTO v_from
      FROM booking_legs l JOIN bookings b ON b.id = l.booking_id
     WHERE l.booking_id = p_booking AND l.leg_no = p_leg
       AND l.status = 'confirmed' AND b.status = 'confirmed';
    IF NOT FOUND THEN
        RETURN 0;
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

-- A journey token's source (ticketing/checkin_store.py token_source): the booking, its legs
-- (every status, leg_no order) and its sealed TOTP secret; with `p_sealed`, that secret is
-- first stored as the booking's when the booking is `p_account`'s, confirmed, has a confirmed
-- leg and no secret yet (`made_at` is then set). A secret stored by a racing request wins.
CREATE OR REPLACE FUNCTION maas_token_source(p_booking text, p_account text, p_dek text,
                                             p_sealed bytea, p_issued timestamptz)
RETURNS TABLE (account_id text, status text, passenger_categories text[], data_key_id text,
               sealed_secret bytea, issued_at timestamptz, leg_no integer, leg_status text,
               from_stop text, to_stop text, mode text, departure timestamptz,
               arrival timestamptz, made_at timestamptz)
LANGUAGE plpgsql VOLATILE SET plan_cache_mode = force_generic_plan AS $$
#variable_conflict use_column
DECLARE
    v_made timestamptz;
BEGIN
    IF p_sealed IS NOT NULL THEN
        INSERT INTO booking_secrets AS s (booking_id, data_key_id, sealed_secret, issued_at)
        SELECT p_booking, p_dek, p_sealed, p_issued
          FROM bookings b
         WHERE b.id = p_booking AND b.account_id = p_account AND b.status = 'confirmed'
           AND NOT EXISTS (SELECT 1 FROM booking_secrets x WHERE x.booking_id = p_booking)
           -- the legs' statuses read by the booking's key, never through a status index
           AND (SELECT bool_or(l.status = 'confirmed') FROM booking_legs l
                 WHERE l.booking_id = p_booking)
        ON CONFLICT (booking_id) DO NOTHING
        RETURNING s.issued_at INTO v_made;
    END IF;
    RETURN QUERY
        SELECT b.account_id, b.status, b.passenger_categories,
               s.data_key_id, s.sealed_secret, s.issued_at,
               l.leg_no, l.status, l.from_stop, l.to_stop, l.mode, l.departure, l.arrival,
               v_made
          FROM bookings b
          LEFT JOIN booking_secrets s ON s.booking_id = b.id
          LEFT JOIN booking_legs l ON l.booking_id = b.id
         WHERE b.id = p_booking
         ORDER BY l.leg_no;
END $$;
