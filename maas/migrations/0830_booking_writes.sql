-- Less PostgreSQL work per booking write (issue 17, CPU per request; measured with the
-- statement log and pg_prepared_statements, see BENCHMARKS.md "bookwrite").
--
-- The hold's statements inside maas_hold were planned anew at every call: PostgreSQL keeps a
-- custom plan per execution while it estimates the generic plan dearer, and the generic
-- estimate of a join over unnest(parameter arrays) always is (10 rows per array against the
-- real 1-3). Its plans are the same index probes either way (the seat count per segment is
-- one probe of booking_legs_occupancy per key, as ticketing/store.py `_TAKEN` explains), so
-- the function plans them once per connection. Plans are made again whenever the tables'
-- statistics change (ANALYZE invalidates them).
ALTER FUNCTION maas_hold SET plan_cache_mode = force_generic_plan;

-- Indexes every booking write paid for and nothing reads:
-- * the outbox index of booking events: nothing reads or sets published_at (GET /v1/events
--   and the booking's events read by booking_events_booking; wake-ups are NOTIFYs), so every
--   hold, confirm and cancel inserted an entry for no reader.
-- * confirmed legs by trip run (connection protection, 0600_protection.sql): the occupancy
--   index has the same leading columns over held and confirmed legs and carries the status,
--   so the realtime fan-out (ticketing/protection_store.py `enqueue_for_runs`) probes it
--   instead; every confirm wrote one entry per leg into both.
DROP INDEX IF EXISTS booking_events_outbox;
DROP INDEX IF EXISTS booking_legs_confirmed_run;
