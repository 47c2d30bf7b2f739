-- Feeds (owned by the operator that first published them) and every version ever uploaded.

CREATE TABLE feeds (
    name         text PRIMARY KEY,                  -- the namespace of its ids: "{name}:{stop_id}"
    operator_id  text NOT NULL,                     -- owner: the operator that first published it
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- One row per distinct upload (sha256) of a feed. Nothing is ever deleted: a superseded
-- version can be activated again (rollback), a rejected one keeps its report.
CREATE TABLE feed_versions (
    id            text PRIMARY KEY,                 -- "{feed}-{first 16 hex of sha256}"
    feed          text NOT NULL REFERENCES feeds (name),
    sha256        text NOT NULL,                    -- of the uploaded zip bytes
    status        text NOT NULL CHECK (status IN
                      ('uploaded', 'rejected', 'accepted', 'active', 'superseded')),
    uploaded_by   text,                             -- operator id (NULL: admin/CLI)
    size_bytes    bigint NOT NULL,                  -- of the zip
    stats         jsonb NOT NULL DEFAULT '{}',      -- feeds.stats.feed_stats
    report        jsonb NOT NULL DEFAULT '[]',      -- list of notices (feeds.notices)
    archive       bytea,                            -- the zip as uploaded (recompile, audit)
    compiled      bytea,                            -- routing.network.to_bytes; NULL when rejected
    created_at    timestamptz NOT NULL DEFAULT now(),
    activated_at  timestamptz,                      -- last time it became active
    UNIQUE (feed, sha256),
    CHECK (status = 'rejected' OR status = 'uploaded' OR compiled IS NOT NULL)
);

-- At most one live version per feed.
CREATE UNIQUE INDEX feed_versions_one_active ON feed_versions (feed) WHERE status = 'active';
CREATE INDEX feed_versions_feed_created ON feed_versions (feed, created_at DESC);
