"""Typed errors of the ticketing package.

Every error has a stable snake_case `code` and an HTTP `status` hint; the service's one
middleware renders them as application/problem+json with `detail` and the `extra` members.
Raise as `SomeError("human detail", field="passengers[0].name")`.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "TicketingError",
    "InvalidPassenger",
    "UnknownCategory",
    "CategoryMismatch",
    "BookingNotFound",
    "SoldOut",
    "ItineraryStale",
    "ItineraryInvalid",
    "InvalidTransition",
    "HoldExpired",
    "BookingCancelled",
    "LegNotCancellable",
    "NoFare",
    "UnknownKey",
    "DecryptionFailed",
    "FeedNotOwned",
    "CapacityTargetUnknown",
    "LegNotExchangeable",
    "OfferNotFound",
    "OfferExpired",
    "OfferUsed",
    "SeatsGone",
    "NoRefundOffer",
]


class TicketingError(Exception):
    code = "ticketing_error"
    status = 400

    def __init__(self, detail: str = "", **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class InvalidPassenger(TicketingError):
    """A passenger field is malformed; `extra["field"]` names it (e.g. passengers[1].id_number)."""
    code = "invalid_passenger"
    status = 422


class UnknownCategory(InvalidPassenger):
    code = "unknown_category"


class CategoryMismatch(InvalidPassenger):
    """The fare category contradicts the birth date the ID number carries (a PRC resident ID
    born 1990 booked as a child); `extra["passenger"]` is its 0-based position."""
    code = "category_mismatch"


class BookingNotFound(TicketingError):
    """No such booking, or not the caller's (never reveal which)."""
    code = "booking_not_found"
    status = 404


class SoldOut(TicketingError):
    """A leg has fewer free seats than passengers; `extra["leg"]` names it. Nothing was held."""
    code = "sold_out"
    status = 409


class ItineraryStale(TicketingError):
    """The itinerary was planned on timetable versions that are no longer live."""
    code = "itinerary_stale"
    status = 410


class ItineraryInvalid(TicketingError):
    """The itinerary id cannot be decoded or names trips/stops the live network lacks."""
    code = "itinerary_invalid"
    status = 422


class InvalidTransition(TicketingError):
    """The booking's state does not allow this action (e.g. confirm a cancelled booking)."""
    code = "invalid_transition"
    status = 409


class HoldExpired(InvalidTransition):
    code = "hold_expired"


class BookingCancelled(InvalidTransition):
    code = "booking_cancelled"


class LegNotCancellable(InvalidTransition):
    code = "leg_not_cancellable"


class NoFare(TicketingError):
    """No GTFS fare and no tariff applies to a leg (misconfiguration)."""
    code = "no_fare"
    status = 500


class UnknownKey(TicketingError):
    """A ciphertext names a data-encryption key id that is not configured."""
    code = "unknown_encryption_key"
    status = 500


class DecryptionFailed(TicketingError):
    code = "decryption_failed"
    status = 500


class FeedNotOwned(TicketingError):
    """The operator does not own the feed it tries to configure."""
    code = "feed_not_owned"
    status = 403


class CapacityTargetUnknown(TicketingError):
    code = "capacity_target_unknown"
    status = 422



class LegNotExchangeable(InvalidTransition):
    """Exchange needs a confirmed booking and an active leg that has not departed."""
    code = "leg_not_exchangeable"


class OfferNotFound(TicketingError):
    """No such exchange offer for this booking (or not the caller's)."""
    code = "offer_not_found"
    status = 404


class OfferExpired(TicketingError):
    """The exchange offer is past its validity; ask for offers again."""
    code = "offer_expired"
    status = 410


class OfferUsed(InvalidTransition):
    """The exchange offer was already used (another Idempotency-Key), or the booking changed
    since it was made."""
    code = "offer_used"


class SeatsGone(SoldOut):
    """The offer's seats were taken meanwhile; nothing was changed. `extra["leg"]` is the
    0-based position of the short leg in the offer."""
    code = "seats_gone"


class NoRefundOffer(InvalidTransition):
    """Cancel with `legs` takes connection protection's refund offer: those legs must be broken
    legs the offer still covers (the booking's protection is rebook_failed)."""
    code = "no_refund_offer"
