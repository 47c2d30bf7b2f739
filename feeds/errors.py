"""Typed errors of the feeds package: each has a stable `code` and an HTTP `status` hint.

Reader errors (the upload is not a GTFS zip we are willing to open) are raised before any
validation runs. Content problems inside a readable zip are never errors: they are
validation notices in the report (feeds/notices.py).

Status choices: an upload that is not a zip at all (or empty) is 400 — the request body is
not the kind of thing this endpoint takes. A zip we refuse to unpack (bomb, unsafe names,
nested folders, too many members) is 422 — well-formed, but unprocessable. Anything too
large is 413.
"""

from __future__ import annotations

__all__ = [
    "FeedError",
    "EmptyArchive",
    "NotAZip",
    "UnsupportedZip",
    "UncompressedTooLarge",
    "CompressionRatioTooHigh",
    "UnsafeMemberName",
    "FilesInSubfolder",
    "DuplicateMember",
    "TooManyMembers",
    "UploadTooLarge",
    "AnalysisMemoryExceeded",
    "InvalidFeedName",
    "FeedOwnedByOtherOperator",
    "FeedVersionNotFound",
    "FeedVersionRejected",
    "FeedHasErrors",
    "OperatorRequired",
    "CompileError",
    "NotProtobuf",
    "UnknownFeed",
    "TripOfAnotherFeed",
    "TimeBeyondHorizon",
    "RealtimeTooLarge",
]


class FeedError(Exception):
    code = "feed_error"
    status = 400

    def __init__(self, detail: str, **extra: object) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


# --- reading the archive ---------------------------------------------------------------------


class EmptyArchive(FeedError):
    code, status = "empty_upload", 400


class NotAZip(FeedError):
    code, status = "not_a_zip", 400


class UnsupportedZip(FeedError):
    """Encrypted members, or a compression method Python's zipfile cannot read."""

    code, status = "unsupported_zip", 422


class UncompressedTooLarge(FeedError):
    code, status = "uncompressed_too_large", 413


class CompressionRatioTooHigh(FeedError):
    code, status = "compression_ratio_too_high", 422


class UnsafeMemberName(FeedError):
    code, status = "unsafe_member_name", 422


class FilesInSubfolder(FeedError):
    # MobilityData's name for the same rejection.
    code, status = "invalid_input_files_in_subfolder", 422


class DuplicateMember(FeedError):
    code, status = "duplicate_member", 422


class TooManyMembers(FeedError):
    code, status = "too_many_members", 422


class UploadTooLarge(FeedError):
    code, status = "upload_too_large", 413


class AnalysisMemoryExceeded(FeedError):
    """Validating or compiling the feed needed more than the analysis process may use
    (FeedSettings.analysis_memory_bytes): the feed is too large for this installation."""

    code, status = "feed_too_large_to_analyse", 413


# --- publishing ------------------------------------------------------------------------------


class InvalidFeedName(FeedError):
    code, status = "invalid_feed_name", 400


class FeedOwnedByOtherOperator(FeedError):
    code, status = "feed_owned_by_other_operator", 403


class FeedVersionNotFound(FeedError):
    code, status = "feed_version_not_found", 404


class FeedVersionRejected(FeedError):
    code, status = "feed_version_rejected", 409


class FeedHasErrors(FeedError):
    """The feed was read and validated, and its report has errors: stored as rejected.

    extra: version, stats, report (the full list of notices)."""

    code, status = "feed_has_errors", 422


class OperatorRequired(FeedError):
    code, status = "operator_required", 400


# --- compiling -------------------------------------------------------------------------------


class CompileError(FeedError, ValueError):
    """The feed cannot be compiled at all (no stop_times, an agency_timezone that is not an
    IANA zone, a file that is not UTF-8). A ValueError too, as it was before it joined the
    tree."""

    code, status = "feed_not_compilable", 422


# --- GTFS-Realtime (feeds/realtime.py, feeds/realtime_ingest.py) ------------------------------
# A refused message changes nothing: the whole message is one transaction.


class NotProtobuf(FeedError):
    code, status = "not_protobuf", 400


class UnknownFeed(FeedError):
    code, status = "unknown_feed", 404


class TripOfAnotherFeed(FeedError):
    code, status = "trip_of_another_feed", 422


class TimeBeyondHorizon(FeedError):
    code, status = "time_beyond_horizon", 422


class RealtimeTooLarge(FeedError):
    code, status = "realtime_too_large", 413
