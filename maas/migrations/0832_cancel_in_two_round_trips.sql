-- Cancel in two round trips instead of four (issue 17, CPU per request; ticketing/store.py
-- `cancel`): a read, then this one statement, which is its own transaction (no BEGIN, no
-- COMMIT round trip; the commit stays synchronous).
--
-- The read takes no lock; this statement writes only if the booking row is still the version
-- read (its xmin): every writer of a booking's legs and tickets (confirm, cancel, expire,
-- exchange) updates the booking row in the same transaction, so an unchanged row means
-- unchanged legs and tickets. UPDATE ... WHERE xmin = p_xmin waits for a writer holding the
-- row and re-checks the version it committed. A stale read returns false with nothing
-- written, and the caller cancels the locking way (maas_booking_for_write, four round trips).
-- With an Idempotency-Key, the key is claimed first as everywhere (the advisory lock of
-- 0820's maas_idempotency_claim: key, then booking, one lock order), and a key row written
-- meanwhile (a duplicate that committed first) raises maas_idempotency_race: everything is
-- rolled back and the caller replays the stored response.
CREATE OR REPLACE FUNCTION maas_cancel_write(
    p_booking text, p_xmin xid, p_t timestamptz, p_nos int[], p_refunds bigint[],
    p_prices bigint[], p_cancel int[], p_status text, p_total bigint, p_refund bigint,
    p_whole boolean, p_event text, p_from text, p_leg int, p_detail jsonb,
    p_scope text, p_key text, p_hash bytea, p_code int, p_body bytea, p_ctype text)
RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF p_scope IS NOT NULL THEN
        PERFORM pg_advisory_xact_lock(1652, hashtext(p_scope || E'\n' || p_key));
        PERFORM 1 FROM idempotency_keys k WHERE k.scope = p_scope AND k.key = p_key;
        IF FOUND THEN
            RAISE EXCEPTION 'maas_idempotency_race';
        END IF;
    END IF;
    UPDATE bookings SET status = p_status, total_minor = p_total,
        refund_minor = refund_minor + p_refund, updated_at = p_t,
        cancelled_at = CASE WHEN p_whole THEN p_t ELSE cancelled_at END
    WHERE id = p_booking AND xmin = p_xmin;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    IF p_scope IS NOT NULL THEN
        INSERT INTO idempotency_keys (scope, key, request_hash, status, body, content_type)
        VALUES (p_scope, p_key, p_hash, p_code, p_body, p_ctype)
        ON CONFLICT DO NOTHING;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'maas_idempotency_race';
        END IF;
    END IF;
    UPDATE booking_legs l
    SET status = CASE WHEN l.leg_no = ANY(p_cancel) THEN 'cancelled' ELSE l.status END,
        refund_minor = CASE WHEN l.leg_no = ANY(p_cancel)
                            THEN p_refunds[array_position(p_nos, l.leg_no)]
                            ELSE l.refund_minor END,
        cancelled_at = CASE WHEN l.leg_no = ANY(p_cancel) THEN p_t ELSE l.cancelled_at END,
        price_minor = coalesce(p_prices[array_position(p_nos, l.leg_no)], l.price_minor)
    WHERE l.booking_id = p_booking AND l.leg_no = ANY(p_nos);
    UPDATE tickets SET status = 'cancelled', cancelled_at = p_t
    WHERE booking_id = p_booking AND leg_no = ANY(p_cancel) AND status = 'issued';
    INSERT INTO booking_events (booking_id, event, from_status, to_status, leg_no, detail,
                                occurred_at)
    VALUES (p_booking, p_event, p_from, p_status, p_leg, p_detail, p_t);
    RETURN true;
END
$$;
