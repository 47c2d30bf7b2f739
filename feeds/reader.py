"""Opening an uploaded GTFS zip safely: every file at the root, decompressed into memory.

Nothing is ever extracted to disk, so member names can never write outside a folder; they
are still checked (`..`, absolute paths, backslashes, drive letters) because a feed that
carries them is not one we want to report on as if it were normal. The decompressed size
and the compression ratio are counted while streaming the decompression: zip headers can
lie, the bytes that come out cannot.

Only the shape of the archive is judged here. Content (encoding, CSV, GTFS rules) is for
feeds/validate.py, which reports it as notices.
"""

from __future__ import annotations

import os
import re
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from feeds.errors import (
    CompressionRatioTooHigh,
    DuplicateMember,
    EmptyArchive,
    FilesInSubfolder,
    NotAZip,
    TooManyMembers,
    UncompressedTooLarge,
    UnsafeMemberName,
    UnsupportedZip,
)

__all__ = ["ArchiveLimits", "FeedFiles", "read_archive"]

# root-level file name ("stops.txt") -> its decompressed bytes
FeedFiles = Mapping[str, bytes]

_CHUNK = 1 << 16
_DRIVE = re.compile(r"^[A-Za-z]:")


@dataclass(frozen=True)
class ArchiveLimits:
    max_uncompressed_bytes: int = 512 * 1024 * 1024  # all members together, decompressed
    max_ratio: float = 100.0  # decompressed / compressed; real GTFS zips stay under 30
    max_members: int = 200  # GTFS has ~30 standard files; extensions add a few
    # The ratio is judged only past this many output bytes: a tiny file (a header-only
    # transfers.txt) may compress 50:1 and is harmless.
    ratio_floor_bytes: int = 1024 * 1024


def read_archive(path: str | os.PathLike[str], limits: ArchiveLimits = ArchiveLimits()) -> dict[str, bytes]:
    """The files of the GTFS zip at `path`, or a typed FeedError saying why not."""
    path = Path(path)
    archive_size = path.stat().st_size
    if archive_size == 0:
        raise EmptyArchive("the upload is empty; send a GTFS zip file")
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as exc:
        raise NotAZip(f"the upload is not a readable zip file ({exc})") from None
    with zf:
        infos = zf.infolist()
        _check_members(infos, limits)
        files: dict[str, bytes] = {}
        total = 0
        for info in infos:
            data, total = _inflate(zf, info, total, archive_size, limits)
            files[info.filename] = data
    return files


def _check_members(infos: list[zipfile.ZipInfo], limits: ArchiveLimits) -> None:
    if not infos:
        raise EmptyArchive("the zip holds no files")
    if len(infos) > limits.max_members:
        raise TooManyMembers(
            f"the zip holds {len(infos)} entries; at most {limits.max_members} are accepted",
            members=len(infos), max_members=limits.max_members,
        )
    for info in infos:
        name = info.filename
        parts = name.replace("\\", "/").split("/")
        if (
            name.startswith(("/", "\\")) or "\\" in name or "\x00" in name
            or _DRIVE.match(name) or ".." in parts
        ):
            raise UnsafeMemberName(f"unsafe file name in the zip: {name!r}", member=name)
    nested = [i.filename for i in infos if "/" in i.filename]
    if nested:
        raise FilesInSubfolder(
            f"all GTFS files must be at the root of the zip, not in a folder ({nested[0]!r}); "
            "zip the files themselves, not the folder holding them",
            members=nested[:10],
        )
    seen: set[str] = set()
    for info in infos:
        if info.filename in seen:
            raise DuplicateMember(f"the zip holds {info.filename!r} twice", member=info.filename)
        seen.add(info.filename)
        if info.flag_bits & 0x1:
            raise UnsupportedZip(f"{info.filename!r} is encrypted", member=info.filename)


def _inflate(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, total: int, archive_size: int, limits: ArchiveLimits
) -> tuple[bytes, int]:
    """One member's bytes, counted as they come out; `total` is the running archive total."""
    chunks: list[bytes] = []
    produced = 0
    # zipfile never reads more than compress_size raw bytes of a member, so this is an
    # honest bound on the input even when the header lies.
    compressed = max(info.compress_size, 1)
    try:
        with zf.open(info) as fh:
            while chunk := fh.read(_CHUNK):
                produced += len(chunk)
                total += len(chunk)
                if total > limits.max_uncompressed_bytes:
                    raise UncompressedTooLarge(
                        f"the zip decompresses to more than {limits.max_uncompressed_bytes} bytes",
                        max_uncompressed_bytes=limits.max_uncompressed_bytes, member=info.filename,
                    )
                if produced > limits.ratio_floor_bytes and (
                    produced > limits.max_ratio * compressed or total > limits.max_ratio * archive_size
                ):
                    raise CompressionRatioTooHigh(
                        f"{info.filename!r} decompresses more than {limits.max_ratio:g} times its "
                        "compressed size (a zip bomb?)",
                        max_ratio=limits.max_ratio, member=info.filename,
                    )
                chunks.append(chunk)
    except NotImplementedError as exc:  # compression method zipfile cannot read
        raise UnsupportedZip(f"{info.filename!r}: {exc}", member=info.filename) from None
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        raise NotAZip(f"{info.filename!r} is damaged in the zip ({exc})", member=info.filename) from None
    return b"".join(chunks), total
