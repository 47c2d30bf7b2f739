-- GTFS-Realtime state per feed (feeds/realtime_store.py). PostgreSQL is the record: every
-- worker loads it at start and again after each `NOTIFY maas_realtime` (payload: the feed),
-- so a restart keeps the current realtime state. One writer per feed at a time (a
-- transaction-level advisory lock on the feed name).

-- One row per feed that ever received a message: what was applied last.
CREATE TABLE realtime_feeds (
    feed          text PRIMARY KEY REFERENCES feeds (name),
    revision      bigint NOT NULL,                  -- +1 per applied message (workers compare it)
    header_ts     bigint,                           -- header.timestamp of the last message (POSIX s)
    applied_at    timestamptz NOT NULL              -- server clock when it was applied
);

-- The current update of each run (trip + service date) of a feed.
CREATE TABLE realtime_trip_updates (
    feed          text NOT NULL REFERENCES feeds (name),
    trip_id       text NOT NULL,                    -- "feed:trip_id"
    service_date  date NOT NULL,                    -- the run (GTFS-RT start_date)
    entity_id     text NOT NULL,                    -- FeedEntity.id (differential deletes name it)
    produced_ts   bigint,                           -- POSIX s the producer measured it; a message
                                                    -- older than this for the run is stale
    body          jsonb NOT NULL,                   -- routing.updates.TripUpdate as JSON
    applied_at    timestamptz NOT NULL,
    PRIMARY KEY (feed, trip_id, service_date)
);
CREATE INDEX realtime_trip_updates_entity ON realtime_trip_updates (feed, entity_id);

-- The current alerts of a feed, by entity id.
CREATE TABLE realtime_alerts (
    feed          text NOT NULL REFERENCES feeds (name),
    entity_id     text NOT NULL,                    -- FeedEntity.id
    body          jsonb NOT NULL,                   -- feeds.alerts.Alert as JSON
    applied_at    timestamptz NOT NULL,
    PRIMARY KEY (feed, entity_id)
);
