-- The travel profile a booking's itinerary was planned with (issue 14's /v1/plan `profile`,
-- `walk_speed`, `extra_transfer_s`, `max_transfers`), as the planner's Query fields
-- (walk_speed_mps, extra_transfer_s, max_transfers, transfer_penalty_s, step_free): connection
-- protection re-plans a disrupted journey with them. Old rows: {} (the network's defaults).
ALTER TABLE bookings ADD COLUMN IF NOT EXISTS profile jsonb NOT NULL DEFAULT '{}';
