"""Opening uploads safely: each attack is built here as a zip and must be refused by type."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from feeds import errors
from feeds.reader import ArchiveLimits, read_archive

DATA = Path(__file__).resolve().parents[1] / "data"


def make_zip(tmp_path: Path, members: dict[str, bytes], *, name: str = "feed.zip",
             method: int = zipfile.ZIP_DEFLATED) -> Path:
    path = tmp_path / name
    with zipfile.ZipFile(path, "w", method) as zf:
        for member, data in members.items():
            zf.writestr(member, data)
    return path


def test_real_feed_comes_back_file_by_file() -> None:
    files = read_archive(DATA / "real" / "highdesert-point-2017.zip")
    assert "stop_times.txt" in files and "agency.txt" in files
    with zipfile.ZipFile(DATA / "real" / "highdesert-point-2017.zip") as zf:
        assert files["stop_times.txt"] == zf.read("stop_times.txt")


def test_empty_body_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.zip"
    path.write_bytes(b"")
    with pytest.raises(errors.EmptyArchive) as exc:
        read_archive(path)
    assert exc.value.code == "empty_upload" and exc.value.status == 400


def test_zip_without_members_is_refused(tmp_path: Path) -> None:
    with pytest.raises(errors.EmptyArchive):
        read_archive(make_zip(tmp_path, {}))


@pytest.mark.parametrize("body", [b"stop_id,stop_name\n1,A\n", b"PK\x03\x04 truncated", b"\x00" * 5000])
def test_not_a_zip_is_refused(tmp_path: Path, body: bytes) -> None:
    path = tmp_path / "x.zip"
    path.write_bytes(body)
    with pytest.raises(errors.NotAZip) as exc:
        read_archive(path)
    assert exc.value.code == "not_a_zip" and exc.value.status == 400


def test_zip_bomb_is_stopped_by_ratio_while_streaming(tmp_path: Path) -> None:
    # 50 MB of zeros deflate to ~50 kB: ratio ~1000, far over the limit of 100.
    path = make_zip(tmp_path, {"stops.txt": b"0" * 50_000_000})
    assert path.stat().st_size < 200_000
    with pytest.raises(errors.CompressionRatioTooHigh) as exc:
        read_archive(path)
    assert exc.value.code == "compression_ratio_too_high" and exc.value.extra["member"] == "stops.txt"


def test_total_uncompressed_size_is_limited(tmp_path: Path) -> None:
    path = make_zip(tmp_path, {"a.txt": b"x" * 600_000, "b.txt": b"y" * 600_000},
                    method=zipfile.ZIP_STORED)
    with pytest.raises(errors.UncompressedTooLarge) as exc:
        read_archive(path, ArchiveLimits(max_uncompressed_bytes=1_000_000))
    assert exc.value.status == 413
    assert read_archive(path, ArchiveLimits(max_uncompressed_bytes=1_200_000))["b.txt"] == b"y" * 600_000


def test_lying_header_does_not_get_past_the_size_limit(tmp_path: Path) -> None:
    """The central directory claims 10 bytes; the member really inflates to 2 MB."""
    path = make_zip(tmp_path, {"stops.txt": bytes(range(256)) * 8192})
    raw = bytearray(path.read_bytes())
    # patch the uncompressed size in the local header (offset 22) and the central directory
    cd = raw.rindex(b"PK\x01\x02")
    raw[22:26] = (10).to_bytes(4, "little")
    raw[cd + 24:cd + 28] = (10).to_bytes(4, "little")
    path.write_bytes(bytes(raw))
    with pytest.raises((errors.NotAZip, errors.UncompressedTooLarge)):
        read_archive(path, ArchiveLimits(max_uncompressed_bytes=1_000_000))


@pytest.mark.parametrize("member", ["../stops.txt", "/etc/passwd", "a/../../stops.txt",
                                    "C:stops.txt", "..\\stops.txt"])
def test_unsafe_member_names_are_refused(tmp_path: Path, member: str) -> None:
    info = zipfile.ZipInfo(member)  # ZipInfo keeps the name as given
    path = tmp_path / "evil.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("agency.txt", b"agency_name\nX\n")
        zf.writestr(info, b"x")
    with pytest.raises(errors.UnsafeMemberName) as exc:
        read_archive(path)
    assert exc.value.code == "unsafe_member_name" and exc.value.status == 422


def test_absolute_name_is_refused_even_though_zipfile_strips_it_on_write(tmp_path: Path) -> None:
    path = make_zip(tmp_path, {"stops.txt": b"x"})
    raw = path.read_bytes().replace(b"stops.txt", b"/tops.txt")
    path.write_bytes(raw)
    with pytest.raises(errors.UnsafeMemberName):
        read_archive(path)


def test_files_in_a_folder_are_refused(tmp_path: Path) -> None:
    path = make_zip(tmp_path, {"gtfs/stops.txt": b"x", "gtfs/agency.txt": b"y"})
    with pytest.raises(errors.FilesInSubfolder) as exc:
        read_archive(path)
    assert exc.value.code == "invalid_input_files_in_subfolder"
    assert "gtfs/stops.txt" in exc.value.extra["members"]


def test_too_many_members_are_refused(tmp_path: Path) -> None:
    path = make_zip(tmp_path, {f"f{i}.txt": b"x" for i in range(30)})
    with pytest.raises(errors.TooManyMembers):
        read_archive(path, ArchiveLimits(max_members=20))
    assert len(read_archive(path, ArchiveLimits(max_members=30))) == 30


def test_same_name_twice_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "dup.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("stops.txt", b"a")
        with pytest.warns(UserWarning):
            zf.writestr("stops.txt", b"b")
    with pytest.raises(errors.DuplicateMember):
        read_archive(path)


def test_non_utf8_content_is_not_a_reader_error() -> None:
    files = read_archive(DATA / "broken" / "bad-utf8.zip")
    with pytest.raises(UnicodeDecodeError):
        files["stops.txt"].decode("utf-8")


def test_every_error_has_code_and_status() -> None:
    for cls in vars(errors).values():
        if isinstance(cls, type) and issubclass(cls, errors.FeedError):
            assert cls.code and 400 <= cls.status < 500, cls
    e = errors.NotAZip("nope", member="x")
    assert e.detail == "nope" and e.extra == {"member": "x"}


def test_a_str_path_works_too(tmp_path: Path) -> None:
    """Uploads are streamed to a temp file first, so the reader takes a path."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("agency.txt", b"a")
    path = tmp_path / "ok.zip"
    path.write_bytes(buf.getvalue())
    assert read_archive(str(path)) == {"agency.txt": b"a"}
