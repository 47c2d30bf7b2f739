-- Exchange (改签, issue 11): a passenger replaces legs n.. of a confirmed booking.
--
-- A replaced leg keeps its row (status 'replaced', `replaced_by` = the first leg that replaced
-- it; its tickets cancelled); the replacement legs are new rows appended after the booking's
-- last leg (leg numbers never change, tickets keep pointing at their leg), confirmed with new
-- tickets. The swap is one transaction under the booking's row lock and the segments' locks
-- (store.replace_legs), through the same occupancy count as a hold: a replaced leg no longer
-- counts ('replaced' is not held/confirmed).
ALTER TABLE booking_legs DROP CONSTRAINT IF EXISTS booking_legs_status_check;
ALTER TABLE booking_legs ADD CONSTRAINT booking_legs_status_check
    CHECK (status IN ('held', 'confirmed', 'cancelled', 'expired', 'replaced'));
ALTER TABLE booking_legs ADD COLUMN IF NOT EXISTS replaced_by integer;  -- leg_no of its first replacement

-- Offers of POST /v1/bookings/{id}/legs/{n}/exchange-offers: what the passenger was shown,
-- valid until expires_at, used at most once (used_at).
CREATE TABLE exchange_offers (
    id             text PRIMARY KEY,                 -- "xo_..."
    booking_id     text NOT NULL REFERENCES bookings(id) ON DELETE CASCADE,
    from_leg       integer NOT NULL,                 -- legs from_leg.. (active ones) are replaced
    itinerary_id   text NOT NULL,                    -- the replacement (a /v1/plan itinerary id)
    new_prices     bigint[] NOT NULL,                -- price of each replacement leg, all passengers
    old_minor      bigint NOT NULL,                  -- price of the replaced legs when offered
    fee_minor      bigint NOT NULL,                  -- exchange fee (refund rules)
    created_at     timestamptz NOT NULL,
    expires_at     timestamptz NOT NULL,
    used_at        timestamptz                       -- set by the exchange
);
COMMENT ON TABLE exchange_offers IS 'Exchange offers shown to a passenger (issue 11), short-lived, used once';
CREATE INDEX exchange_offers_booking ON exchange_offers (booking_id);
