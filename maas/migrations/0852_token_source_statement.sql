-- A booking's token read is one statement again (ticketing/checkin_store.py token_source):
-- measured on fresh connections, maas_token_source (migration 0851) cost ~1.3 ms more on its
-- first call per connection (the function's compilation) and ~0.1 ms more per call once warm
-- than the statement, for ~0.1 ms less on calls two to five. maas_gate_tap stays (its first
-- call costs ~0.5 ms more, then ~0.35 ms less on calls two to six, the same once warm).
DROP FUNCTION IF EXISTS maas_token_source(text, text, text, bytea, timestamptz);
