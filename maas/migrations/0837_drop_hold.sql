-- maas_hold (0820) is called by nothing since 0836 (maas_hold_rows: the passengers and legs
-- as arrays of rows). An upgrade that brings migrations stops every instance first
-- (deploy/README.md), so no server of the previous release still calls it.
DROP FUNCTION IF EXISTS maas_hold;
