-- Confirm's and cancel's locking read in one row (issue 17, CPU per request): replaces
-- maas_booking_locked (0820, kept for servers of the previous release during an upgrade).
--
-- maas_booking_locked returned a row per leg, each with the passengers' full rows (their
-- ciphertexts too) and, for cancel, all the booking's tickets: both arrays built, sent and
-- decoded once per leg; and it row-locked every leg besides the booking. Here: the key's
-- claim, then the booking row locked by its own statement, then the segment locks of its
-- held legs (confirm), then one row read by a statement after all the locks (a VOLATILE
-- function's statements each take a new snapshot, so it sees whatever a writer we waited
-- for committed): the booking, its legs as an array, the passengers' and tickets' fields a
-- booking view shows. The legs need no row lock of their own: every writer of a booking's
-- legs and tickets (confirm, cancel, expire, exchange) locks the booking row first, and
-- this read comes after that lock.
CREATE TYPE maas_passenger_view AS (passenger_no int, category text, id_type text,
                                    name_masked text, id_masked text);
CREATE TYPE maas_ticket_view AS (id text, leg_no int, passenger_no int, status text);

CREATE OR REPLACE FUNCTION maas_booking_for_write(p_booking text, p_account text, p_scope text,
                                                  p_key text, p_segments boolean,
                                                  p_tickets boolean)
RETURNS TABLE (-- the booking's columns (a composite with jsonb fields would not decode)
               id text, account_id text, status text, itinerary_id text, feed_versions jsonb,
               passenger_count int, passenger_categories text[], currency text,
               total_minor bigint, paid_minor bigint, refund_minor bigint,
               expires_at timestamptz, payment_ref text, created_at timestamptz,
               updated_at timestamptz, confirmed_at timestamptz, cancelled_at timestamptz,
               modes text[], wheelchair boolean, max_walk_m double precision,
               min_transfer_s int, protection jsonb, profile jsonb,
               legs booking_legs[], pax maas_passenger_view[], tickets maas_ticket_view[],
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
    PERFORM 1 FROM bookings bk
    WHERE bk.id = p_booking AND (p_account IS NULL OR bk.account_id = p_account)
    FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF p_segments THEN
        -- (no status test in a WHERE: a generic plan could then read the partial occupancy
        -- index instead of the booking's legs; see ticketing/store.py `_issue`)
        PERFORM pg_advisory_xact_lock(1651, s.k)
        FROM (SELECT DISTINCT unnest(CASE WHEN l.status = 'held' THEN l.lock_ids END) AS k
              FROM booking_legs l WHERE l.booking_id = p_booking) s
        WHERE (SELECT bool_and(l.status <> 'held' OR l.lock_ids IS NOT NULL)
               FROM booking_legs l WHERE l.booking_id = p_booking)
        ORDER BY s.k;
    END IF;
    RETURN QUERY
        SELECT bk.id, bk.account_id, bk.status, bk.itinerary_id, bk.feed_versions,
           bk.passenger_count, bk.passenger_categories, bk.currency, bk.total_minor,
           bk.paid_minor, bk.refund_minor, bk.expires_at, bk.payment_ref, bk.created_at,
           bk.updated_at, bk.confirmed_at, bk.cancelled_at, bk.modes, bk.wheelchair,
           bk.max_walk_m, bk.min_transfer_s, bk.protection, bk.profile,
           (SELECT array_agg(l ORDER BY l.leg_no) FROM booking_legs l
             WHERE l.booking_id = bk.id),
           (SELECT array_agg(ROW(p.passenger_no, p.category, p.id_type, p.name_masked,
                                 p.id_masked)::maas_passenger_view ORDER BY p.passenger_no)
              FROM booking_passengers p WHERE p.booking_id = bk.id),
           CASE WHEN p_tickets THEN
               (SELECT array_agg(ROW(k.id, k.leg_no, k.passenger_no, k.status)::maas_ticket_view
                                 ORDER BY k.leg_no, k.passenger_no)
                  FROM tickets k WHERE k.booking_id = bk.id) END,
           NULL::idempotency_keys
        FROM bookings bk WHERE bk.id = p_booking;
END
$$;
