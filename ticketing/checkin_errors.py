"""Errors of check-in: gate rejections (stable reason codes) and check-in API errors.

Every class follows the service contract: class attributes `code` and `status`, raised as
`Error(detail, **extra)`. A `Rejection` is the gate saying no: the validate endpoint renders
it as `{"result": "reject", "code": ...}` with HTTP 200 (the gate asked a question and got an
answer); every other error here is an HTTP problem rendered by the lead's middleware.
"""

from __future__ import annotations

from ticketing.errors import TicketingError

__all__ = [
    "CheckinError",
    "Rejection",
    "Malformed",
    "UnknownKey",
    "BadSignature",
    "CodeExpired",
    "WrongStation",
    "NotYetValid",
    "ValidityOver",
    "AlreadyUsed",
    "Cancelled",
    "Replaced",
    "NotInManifest",
    "NoFaceMatch",
    "FaceAmbiguous",
    "InvalidTemplate",
    "ConsentRequired",
    "FaceNotEnrolled",
    "BookingNotConfirmed",
    "ManifestInvalid",
    "InvalidId",
    "UnknownId",
    "TooManyUnknownIds",
    "REJECTION_CODES",
]


class CheckinError(TicketingError):
    code = "checkin_error"
    status = 500


# --- gate rejections ---------------------------------------------------------------------


class Rejection(CheckinError):
    """The gate refuses entry; `code` is the stable reason shown to the gate."""

    code = "rejected"
    status = 403


class Malformed(Rejection):
    code, status = "malformed", 400


class UnknownKey(Rejection):
    code = "unknown_key"


class BadSignature(Rejection):
    code = "bad_signature"


class CodeExpired(Rejection):
    """The rotating code is not the current one (screenshot), or its step was already used."""

    code = "code_expired"


class WrongStation(Rejection):
    code = "wrong_station"


class NotYetValid(Rejection):
    code = "not_yet_valid"


class ValidityOver(Rejection):
    code = "validity_over"


class AlreadyUsed(Rejection):
    code, status = "already_used", 409


class Cancelled(Rejection):
    code, status = "cancelled", 410


class Replaced(Rejection):
    """The leg was exchanged or rebooked: the booking (and its QR) admits on the leg that
    replaced it, named by `replaced_by` (a ticketing.manifest.ReplacedBy), never on this one."""

    code, status = "replaced", 410


class NotInManifest(Rejection):
    """Offline only: a correctly signed ticket the gate's manifest does not know (sold after
    the manifest was built), so its rotating code cannot be checked. Refresh the manifest."""

    code = "not_in_manifest"


class NoFaceMatch(Rejection):
    code = "no_face_match"


class FaceAmbiguous(Rejection):
    code = "face_ambiguous"


class InvalidId(Rejection):
    """An ID card number that fails its type's format or check character (mistyped, forged)."""

    code = "invalid_id"


class UnknownId(Rejection):
    """A well-formed ID number no booking's passenger holds (counts towards the gate's limit)."""

    code = "unknown_id"


REJECTION_CODES = tuple(
    cls.code
    for cls in (
        Malformed, UnknownKey, BadSignature, CodeExpired, WrongStation, NotYetValid,
        ValidityOver, AlreadyUsed, Cancelled, Replaced, NotInManifest, NoFaceMatch, FaceAmbiguous,
        InvalidId, UnknownId,
    )
)


# --- API errors ----------------------------------------------------------------------------


class InvalidTemplate(CheckinError):
    code, status = "invalid_template", 422


class ConsentRequired(CheckinError):
    code, status = "consent_required", 422


class FaceNotEnrolled(CheckinError):
    code, status = "face_not_enrolled", 404


class BookingNotConfirmed(CheckinError):
    code, status = "booking_not_confirmed", 409


class TooManyUnknownIds(CheckinError):
    """A gate key that tried too many ID numbers without a ticket here: slowed down (an ID
    reader can be used to test whether a person travels). Carries `retry_after_s`."""

    code, status = "too_many_unknown_ids", 429


class ManifestInvalid(CheckinError):
    """A manifest that does not decrypt or whose signature does not verify (gate side)."""

    code, status = "manifest_invalid", 400
