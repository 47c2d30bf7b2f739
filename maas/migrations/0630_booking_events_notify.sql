-- Wake-up of GET /v1/events readers in every worker and instance (issue 11).
--
-- A booking event row, once committed, NOTIFYs `maas_events` with the booking's account id; each
-- worker's LISTEN connection wakes that account's SSE readers (maas/event_wakeups.py), which then
-- read the rows as before. Rows stay the record: a lost notification only delays a reader to its
-- next poll (protection.poll_s). Not for `hold` and `confirm`: those answer the caller's own
-- request, they are the booking hot path, and a notifying commit takes a cluster-wide lock in
-- PostgreSQL (notifications are queued in commit order); readers still see them on the next read.
CREATE OR REPLACE FUNCTION maas_booking_event_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('maas_events',
                      coalesce((SELECT account_id FROM bookings WHERE id = NEW.booking_id), ''));
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS booking_events_notify ON booking_events;
CREATE TRIGGER booking_events_notify AFTER INSERT ON booking_events
    FOR EACH ROW WHEN (NEW.event NOT IN ('hold', 'confirm'))
    EXECUTE FUNCTION maas_booking_event_notify();
