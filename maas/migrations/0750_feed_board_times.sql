-- Issue 14: an operator publishes a zip with its own board times (POST /v1/feeds?board_times=);
-- the same zip with other board times is another version (its id hashes the zip and them),
-- so (feed, sha256 of the zip) is no longer unique. The id (primary key) still is.
ALTER TABLE feed_versions DROP CONSTRAINT IF EXISTS feed_versions_feed_sha256_key;
CREATE INDEX IF NOT EXISTS feed_versions_feed_sha256 ON feed_versions (feed, sha256);
