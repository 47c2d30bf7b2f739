-- Booking statements planned once per connection, and the stored responses not compressed
-- (issue 17, CPU per request; measured with PostgreSQL's statement log, see BENCHMARKS.md
-- "bookwrite").
--
-- Cancel's read (ticketing/store.py `cancel`): the booking as it stands, its row version,
-- legs, the passengers' and tickets' shown fields, and the Idempotency-Key's stored response
-- (one row even without the booking: a used key replays whatever the booking is now). As a
-- plain prepared statement PostgreSQL kept planning it anew at every execution (~0.1 ms: it
-- judged the generic plan dearer than the custom ones); in a function it is planned once
-- per connection: the same index probes (bookings_pkey, then each table's booking_id key).
CREATE OR REPLACE FUNCTION maas_booking_current(p_booking text, p_account text, p_scope text,
                                                p_key text)
RETURNS TABLE (-- the booking's columns (a composite with jsonb fields would not decode)
               id text, account_id text, status text, itinerary_id text, feed_versions jsonb,
               passenger_count int, passenger_categories text[], currency text,
               total_minor bigint, paid_minor bigint, refund_minor bigint,
               expires_at timestamptz, payment_ref text, created_at timestamptz,
               updated_at timestamptz, confirmed_at timestamptz, cancelled_at timestamptz,
               modes text[], wheelchair boolean, max_walk_m double precision,
               min_transfer_s int, protection jsonb, profile jsonb, version xid,
               legs booking_legs[], pax maas_passenger_view[], tickets maas_ticket_view[],
               replay idempotency_keys)
LANGUAGE plpgsql STABLE SET plan_cache_mode = force_generic_plan AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
        SELECT bk.id, bk.account_id, bk.status, bk.itinerary_id, bk.feed_versions,
           bk.passenger_count, bk.passenger_categories, bk.currency, bk.total_minor,
           bk.paid_minor, bk.refund_minor, bk.expires_at, bk.payment_ref, bk.created_at,
           bk.updated_at, bk.confirmed_at, bk.cancelled_at, bk.modes, bk.wheelchair,
           bk.max_walk_m, bk.min_transfer_s, bk.protection, bk.profile, bk.xmin,
           (SELECT array_agg(l ORDER BY l.leg_no) FROM booking_legs l
             WHERE l.booking_id = bk.id),
           (SELECT array_agg(ROW(p.passenger_no, p.category, p.id_type, p.name_masked,
                                 p.id_masked)::maas_passenger_view ORDER BY p.passenger_no)
              FROM booking_passengers p WHERE p.booking_id = bk.id),
           (SELECT array_agg(ROW(k.id, k.leg_no, k.passenger_no, k.status)::maas_ticket_view
                             ORDER BY k.leg_no, k.passenger_no)
              FROM tickets k WHERE k.booking_id = bk.id),
           (SELECT k FROM idempotency_keys k WHERE k.scope = p_scope AND k.key = p_key)
        FROM (SELECT) one
        LEFT JOIN bookings bk ON bk.id = p_booking
                             AND (p_account IS NULL OR bk.account_id = p_account);
END
$$;

-- The same for the statements inside confirm's and cancel's other functions.
ALTER FUNCTION maas_booking_for_write SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION maas_cancel_write SET plan_cache_mode = force_generic_plan;

-- A stored response (a booking's JSON, ~3 KB) was compressed on every insert (pglz: tuples
-- over ~2 KB are compressed down to the table's toast_tuple_target, 2 KB by default) to be
-- read back only by a retry. Compressed only past a page's worth now: more bytes written,
-- less CPU.
ALTER TABLE idempotency_keys SET (toast_tuple_target = 8160);
