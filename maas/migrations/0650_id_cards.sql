-- ID cards as tickets (issue 16): the blind index of each passenger's ID number, the entries
-- of single passengers (an ID card admits its holder only), and the audit of ID probes.
--
-- The ID number stays encrypted (booking_passengers.id_number_ct); `id_index` is
-- HMAC-SHA256(key derived from data key `id_index_key`, "id_type|NUMBER") — see
-- ticketing/idcards.py. NULL until computed: new passengers get it at hold time, older rows
-- from `maas keys rotate-data` (which also moves it to the active key).
ALTER TABLE booking_passengers
    ADD COLUMN id_index      bytea,   -- blind index of (id_type, id number); never the number
    ADD COLUMN id_index_key  text;    -- data key id the index key was derived from
CREATE INDEX booking_passengers_id_index ON booking_passengers (id_index) WHERE id_index IS NOT NULL;

-- Entries of one passenger of a booking on one leg (ID card). A QR or face entry admits the
-- whole party and stays one gate_taps row per leg; an ID card entry is a row here, and one
-- passenger enters a leg at most once. A leg with a party entry (gate_taps) admits no card.
CREATE TABLE passenger_taps (
    tap_id        text PRIMARY KEY,                 -- uuid; offline taps keep the gate's id
    booking_id    text NOT NULL,
    leg_no        integer NOT NULL,
    passenger_no  integer NOT NULL,                 -- booking_passengers.passenger_no of the holder
    gate_id       text NOT NULL,                    -- gate that admitted
    station       text NOT NULL,                    -- the leg's boarding stop
    method        text NOT NULL CHECK (method IN ('id_card')),
    online        boolean NOT NULL,                 -- false: uploaded from an offline gate
    tapped_at     timestamptz NOT NULL,
    recorded_at   timestamptz NOT NULL,
    UNIQUE (booking_id, leg_no, passenger_no),
    FOREIGN KEY (booking_id, leg_no) REFERENCES booking_legs (booking_id, leg_no) ON DELETE CASCADE,
    FOREIGN KEY (booking_id, passenger_no) REFERENCES booking_passengers (booking_id, passenger_no) ON DELETE CASCADE
);
COMMENT ON TABLE passenger_taps IS 'ID-card entries: one passenger of a booking on one leg (online or uploaded offline)';
CREATE INDEX passenger_taps_gate ON passenger_taps (gate_id, tapped_at);

-- Gate keys slowed down for trying ID numbers that hold no ticket at their gate (probing
-- whether a person travels). One row per time a key crossed the limit; never the numbers.
CREATE TABLE id_probe_alerts (
    id          bigserial PRIMARY KEY,
    key_id      text NOT NULL,                      -- the gate's API key id
    gate_id     text NOT NULL,
    station     text NOT NULL,
    misses      integer NOT NULL,                   -- unknown IDs in the window when it tripped
    window_s    integer NOT NULL,
    blocked_until timestamptz NOT NULL,             -- 429 too_many_unknown_ids until then
    created_at  timestamptz NOT NULL
);
COMMENT ON TABLE id_probe_alerts IS 'Gate keys that tried many unknown ID numbers (maas gate alerts)';
CREATE INDEX id_probe_alerts_newest ON id_probe_alerts (created_at DESC);
