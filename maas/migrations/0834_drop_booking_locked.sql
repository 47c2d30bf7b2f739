-- maas_booking_locked (0820) is read by nothing since 0831 (maas_booking_for_write): confirm
-- and cancel read one locked row. An upgrade that brings migrations stops every instance
-- first (deploy/README.md), so no server of the previous release still calls it.
DROP FUNCTION IF EXISTS maas_booking_locked(text, text, text, text, boolean, boolean);
