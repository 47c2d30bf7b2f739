-- Linked bookings (issue 5): seat inventory per trip segment, bookings with their legs,
-- passengers (PII encrypted), tickets, the event log (audit trail + outbox), capacity
-- overrides, and the generic Idempotency-Key store used by any POST (maas/idempotency.py).
--
-- Conventions: ids are text with a prefix ("bk_", "tk_"); money is an integer amount in
-- minor units (fen for CNY) plus the booking's currency; times are timestamptz (UTC);
-- stops, trips, routes and agencies are namespaced "feed:gtfs_id" like everywhere in the API.
--
-- Seat accounting (see ticketing/README.md): a leg occupies `passengers` seats on every
-- segment seg of its trip with board_pos <= seg < alight_pos (segment seg = between the
-- trip's stop positions seg and seg+1), while it is confirmed, or held with hold_until in
-- the future. Occupancy is always counted from booking_legs, so an expired hold never
-- counts, whether or not the sweeper has run. Writers that may add occupancy (hold,
-- confirm) serialise per segment with transaction-level advisory locks
-- pg_advisory_xact_lock(1651, hash(trip_id, service_date, seg)), taken in ascending key
-- order (one total order -> no deadlocks); see ticketing/store.py.

-- Capacity overrides set by the operator owning a feed (PUT /v1/feeds/{feed}/capacity).
-- Lookup order for a trip: its 'trip' row, else its route's 'route' row, else the per-mode
-- default from settings (BookingSettings.capacity).
CREATE TABLE seat_capacity (
    scope       text NOT NULL CHECK (scope IN ('route', 'trip')),  -- what ref_id names
    ref_id      text NOT NULL,                     -- "feed:route_id" or "feed:trip_id"
    feed        text NOT NULL,                     -- feed namespace of ref_id (ownership check)
    seats       integer NOT NULL CHECK (seats >= 0),  -- seats per trip per service date
    updated_by  text,                              -- api key id of the operator that set it
    updated_at  timestamptz NOT NULL DEFAULT now(),  -- when it was last set
    PRIMARY KEY (scope, ref_id)
);
COMMENT ON TABLE seat_capacity IS 'Operator capacity overrides per route or trip (else per-mode default from settings)';

-- One linked booking: N legs (each a real ticket of its operator), M passengers.
CREATE TABLE bookings (
    id                   text PRIMARY KEY,         -- "bk_..."
    account_id           text NOT NULL REFERENCES accounts(id),  -- the passenger account that owns it
    status               text NOT NULL CHECK (status IN ('held', 'confirmed', 'cancelled', 'expired')),
                                                   -- state machine in ticketing/bookings.py
    itinerary_id         text NOT NULL,            -- the /v1/plan itinerary id it was booked from
    feed_versions        jsonb NOT NULL,           -- {feed: version} of the timetables it was planned on
    passenger_count      integer NOT NULL CHECK (passenger_count > 0),  -- seats taken per leg
    passenger_categories text[] NOT NULL,          -- category per passenger, by passenger_no: adult|child|senior|disabled
    currency             text NOT NULL,            -- ISO 4217 of every amount of this booking (settlement currency)
    total_minor          bigint NOT NULL,          -- price of the legs still booked (re-priced after a leg is cancelled)
    paid_minor           bigint NOT NULL DEFAULT 0,  -- amount captured at confirm
    refund_minor         bigint NOT NULL DEFAULT 0,  -- sum of refunds granted so far
    expires_at           timestamptz NOT NULL,     -- end of the hold; a held booking past it is expired
    payment_ref          text,                     -- payment reference given at confirm
    created_at           timestamptz NOT NULL,     -- hold time (from the injectable clock)
    updated_at           timestamptz NOT NULL,     -- last transition
    confirmed_at         timestamptz,              -- set by confirm
    cancelled_at         timestamptz               -- set when the whole booking is cancelled
);
COMMENT ON TABLE bookings IS 'Linked multi-leg, multi-operator bookings (issue 5)';
CREATE INDEX bookings_account_newest ON bookings (account_id, created_at DESC, id DESC);  -- GET /v1/bookings
CREATE INDEX bookings_held_expiry ON bookings (expires_at) WHERE status = 'held';          -- the sweeper

-- Passengers of a booking. Name and ID number are AES-GCM encrypted (ticketing/pii.py);
-- the key id is stored so keys can rotate. Only masked forms are ever shown.
CREATE TABLE booking_passengers (
    booking_id    text NOT NULL REFERENCES bookings(id) ON DELETE CASCADE,  -- owning booking
    passenger_no  integer NOT NULL CHECK (passenger_no >= 0),  -- 0-based order as submitted
    category      text NOT NULL CHECK (category IN ('adult', 'child', 'senior', 'disabled')),  -- fare category
    id_type       text NOT NULL,                   -- document type: prc_id | passport | ...
    key_id        text NOT NULL,                   -- data-encryption key id used for the two ciphertexts
    name_ct       bytea NOT NULL,                  -- nonce(12) || AES-GCM(name), AAD = booking/passenger/field
    id_number_ct  bytea NOT NULL,                  -- nonce(12) || AES-GCM(id number), same AAD scheme
    name_masked   text NOT NULL,                   -- e.g. "张*"; safe to show/log
    id_masked     text NOT NULL,                   -- e.g. "110***********123X"; safe to show/log
    PRIMARY KEY (booking_id, passenger_no)
);
COMMENT ON TABLE booking_passengers IS 'Passengers of a booking; PII encrypted at rest (AES-GCM, key id for rotation)';

-- Legs of a booking: one transit leg each, one operator each.
CREATE TABLE booking_legs (
    booking_id    text NOT NULL REFERENCES bookings(id) ON DELETE CASCADE,  -- owning booking
    leg_no        integer NOT NULL CHECK (leg_no >= 0),  -- 0-based order in the journey
    status        text NOT NULL CHECK (status IN ('held', 'confirmed', 'cancelled', 'expired')),  -- seat state of this leg
    feed          text NOT NULL,                   -- feed namespace of trip/route/stops
    agency_id     text NOT NULL,                   -- operator of the leg, "feed:agency_id"
    agency_name   text NOT NULL,                   -- its display name
    mode          text NOT NULL,                   -- bus coach rail metro tram ferry air other
    route_id      text NOT NULL,                   -- "feed:route_id"
    trip_id       text NOT NULL,                   -- "feed:trip_id" (frequency runs: "feed:trip@HH:MM:SS")
    service_date  date NOT NULL,                   -- GTFS service date of the run
    board_pos     integer NOT NULL,                -- position of the boarding stop in the trip's stop times (0-based)
    alight_pos    integer NOT NULL,                -- position of the alighting stop; > board_pos
    from_stop     text NOT NULL,                   -- boarding stop "feed:stop_id"
    to_stop       text NOT NULL,                   -- alighting stop "feed:stop_id"
    departure     timestamptz NOT NULL,            -- scheduled departure at from_stop
    arrival       timestamptz NOT NULL,            -- scheduled arrival at to_stop
    passengers    integer NOT NULL CHECK (passengers > 0),  -- seats this leg takes on each segment
    hold_until    timestamptz NOT NULL,            -- = bookings.expires_at; a 'held' leg counts only before it
    unit_minor    bigint NOT NULL,                 -- one adult's base price of this leg (re-pricing input)
    price_source  text NOT NULL,                   -- "fare:feed:fare_id" or "tariff:..." (ticketing/fares.py)
    price_minor   bigint NOT NULL,                 -- price of this leg for all passengers (after re-pricing)
    refund_minor  bigint NOT NULL DEFAULT 0,       -- refund granted when this leg was cancelled
    cancelled_at  timestamptz,                     -- when this leg was cancelled
    PRIMARY KEY (booking_id, leg_no),
    CHECK (alight_pos > board_pos)
);
COMMENT ON TABLE booking_legs IS 'Legs of a linked booking; the seat inventory is counted from these rows';
-- Occupancy count per trip run: only rows that may still occupy a seat.
CREATE INDEX booking_legs_occupancy ON booking_legs (trip_id, service_date, board_pos, alight_pos)
    INCLUDE (passengers, status, hold_until) WHERE status IN ('held', 'confirmed');
-- Check-in: legs boarding at a station on a day.
CREATE INDEX booking_legs_from_stop ON booking_legs (from_stop, departure);

-- Tickets: one per leg per passenger, issued at confirm.
CREATE TABLE tickets (
    id            text PRIMARY KEY,                -- "tk_..."
    booking_id    text NOT NULL,                   -- owning booking
    leg_no        integer NOT NULL,                -- the leg it is valid for
    passenger_no  integer NOT NULL,                -- the passenger it is for
    category      text NOT NULL,                   -- the passenger's fare category (copied for gates)
    status        text NOT NULL CHECK (status IN ('issued', 'cancelled')),  -- cancelled with its leg/booking
    issued_at     timestamptz NOT NULL,            -- confirm time
    cancelled_at  timestamptz,                     -- when its leg was cancelled
    UNIQUE (booking_id, leg_no, passenger_no),
    FOREIGN KEY (booking_id, leg_no) REFERENCES booking_legs (booking_id, leg_no) ON DELETE CASCADE,
    FOREIGN KEY (booking_id, passenger_no) REFERENCES booking_passengers (booking_id, passenger_no) ON DELETE CASCADE
);
COMMENT ON TABLE tickets IS 'One ticket per leg per passenger, issued when the booking is confirmed';

-- Every state transition of a booking (and of a leg) as one row: the audit trail, and an
-- outbox for notifications (rows with published_at NULL are not yet delivered).
CREATE TABLE booking_events (
    id           bigserial PRIMARY KEY,            -- global order
    booking_id   text NOT NULL REFERENCES bookings(id) ON DELETE CASCADE,  -- the booking
    event        text NOT NULL,                    -- hold | confirm | expire | cancel | cancel_leg
    from_status  text,                             -- booking status before (NULL for hold)
    to_status    text NOT NULL,                    -- booking status after
    leg_no       integer,                          -- the leg, for cancel_leg
    detail       jsonb NOT NULL DEFAULT '{}',      -- amounts, payment ref, actor; never PII
    occurred_at  timestamptz NOT NULL,             -- from the injectable clock
    published_at timestamptz                       -- outbox: set once delivered
);
COMMENT ON TABLE booking_events IS 'Booking transitions: audit trail and outbox (published_at NULL = pending)';
CREATE INDEX booking_events_booking ON booking_events (booking_id, id);
CREATE INDEX booking_events_outbox ON booking_events (id) WHERE published_at IS NULL;

-- Idempotency-Key store for any POST (maas/idempotency.py). The row is inserted in the
-- same transaction as the request's effects and holds the final response, so a retry
-- (also after a restart) gets the first response; a concurrent duplicate waits on the
-- row lock and then replays it.
CREATE TABLE idempotency_keys (
    scope         text NOT NULL,                   -- who: "account:acc_..", "key:key_.." (keys are per caller)
    key           text NOT NULL,                   -- the Idempotency-Key header value
    request_hash  bytea NOT NULL,                  -- sha256(method, path, body): same key + other body -> 422
    status        integer NOT NULL,                -- HTTP status of the stored response
    body          bytea NOT NULL,                  -- response body as sent
    content_type  text NOT NULL,                   -- its content type
    created_at    timestamptz NOT NULL DEFAULT now(),  -- for purging old keys
    PRIMARY KEY (scope, key)
);
COMMENT ON TABLE idempotency_keys IS 'Idempotency-Key -> first response, per caller (maas/idempotency.py)';
