-- GET /v1/events wake-ups only for accounts somebody listens for (issue 17, CPU per cancel).
--
-- 0630's trigger NOTIFYed `maas_events` on every booking event but hold/confirm: each such
-- commit took PostgreSQL's cluster-wide notify-queue lock and wrote a queue entry, and every
-- LISTENing backend in the database (one per worker: maas/live.py's connection) was signalled,
-- read the queue in a transaction of its own and sent the notification on to its worker, whose
-- event loop woke to hand it to maas/event_wakeups.py -- whether or not a stream was open
-- anywhere (about a fifth of a cancel's worker + PostgreSQL CPU, BENCHMARKS.md "events2").
--
-- Now each worker keeps a row here per account with an open stream in it (written before the
-- stream's first read, deleted when the account's last stream in that worker closes,
-- `expires_at` refreshed while it stays open, so a killed worker's rows age out and any
-- worker deletes them), and the trigger NOTIFYs only for an account present here.
--
-- No wake-up is lost to the race between a stream opening and an event being written: the
-- trigger takes a shared advisory lock on the account (class 1653) before it looks here,
-- held to its commit, and the registration (`maas_event_stream_open`) takes it exclusive
-- before its insert, held to its commit. So an event whose trigger looked before the
-- registration committed was committed before it (the registration waited for it), and the
-- stream's first read, made after the registration, sees its row; an event whose trigger
-- looks later sees the registration and NOTIFYs. (Event writers run in READ COMMITTED, where
-- each statement of the trigger sees what committed before it.) One lock per registration,
-- never two: a transaction writing events of several accounts cannot deadlock with it.
CREATE TABLE event_streams (
    account_id text NOT NULL,
    listener   text NOT NULL,             -- one worker process (a random id per process)
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (account_id, listener)
);
COMMENT ON TABLE event_streams IS 'Accounts with an open GET /v1/events stream, per worker: booking_events_notify NOTIFYs only for these';

CREATE OR REPLACE FUNCTION maas_event_stream_open(p_account text, p_listener text, p_ttl_s int)
RETURNS void LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(1653, hashtext(p_account));
    INSERT INTO event_streams (account_id, listener, expires_at)
    VALUES (p_account, p_listener, now() + make_interval(secs => p_ttl_s))
    ON CONFLICT (account_id, listener) DO UPDATE SET expires_at = EXCLUDED.expires_at;
END
$$;

-- Every refresh of a worker: its accounts' rows (re)written with a new expiry (a row deleted
-- meanwhile as expired comes back), and every worker's expired rows deleted.
CREATE OR REPLACE FUNCTION maas_event_streams_refresh(p_listener text, p_accounts text[],
                                                      p_ttl_s int)
RETURNS void LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    DELETE FROM event_streams WHERE expires_at < now();
    INSERT INTO event_streams (account_id, listener, expires_at)
    SELECT a, p_listener, now() + make_interval(secs => p_ttl_s) FROM unnest(p_accounts) AS a
    ON CONFLICT (account_id, listener) DO UPDATE SET expires_at = EXCLUDED.expires_at;
END
$$;

CREATE OR REPLACE FUNCTION maas_booking_event_notify() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    acc text := (SELECT account_id FROM bookings WHERE id = NEW.booking_id);
BEGIN
    IF acc IS NOT NULL THEN
        PERFORM pg_advisory_xact_lock_shared(1653, hashtext(acc));
        IF EXISTS (SELECT FROM event_streams WHERE account_id = acc) THEN
            PERFORM pg_notify('maas_events', acc);
        END IF;
    END IF;
    RETURN NULL;
END
$$;
