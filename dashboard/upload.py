"""Uploaded recordings: check what arrived, put it where ``read_recording`` can open it.

Accepted (see docs/dashboard.md): a ``.zip`` holding one ``.arrows`` data file and, optionally, its
``.json`` sidecar; or the ``.arrows`` file, alone or with its ``.json``, uploaded together. Without a
sidecar the metadata stored in the Arrow header is used (start fields only). An app's export (CSV/TXT
files, or its zip; docs/imports.md) is handed to ``pelvio.sensor.importer``, which writes the recording.
Everything else is refused with one plain sentence; the bytes themselves are judged by ``read_recording``.
"""

from __future__ import annotations

import hashlib
import tempfile
import zipfile
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

from pelvio.errors import RecordingError
from pelvio.sensor.importer import TEXT_SUFFIXES, import_sources, unpack
from pelvio.sensor.recording import DATA_SUFFIX, SIDECAR_SUFFIX

MAX_UPLOAD_MB = 100
"""The recording uploader's own limit (``max_upload_size``), checked again here for every file and unpacked
zip; the server's ``maxUploadSize`` is the 2 GB a video may be. An hour at 200 Hz is ~46 MB."""
ACCEPTED_TYPES = ("zip", "arrows", "json", "csv", "txt")


@dataclass(frozen=True)
class UploadedFile:
    """What the file uploader hands over, reduced to the two things checked here."""

    name: str
    data: bytes


class UploadError(RecordingError):
    """The upload is not a recording Pelvio can open; the message says what to upload instead."""


HOW = ("Upload a .zip of a recording (its .arrows and .json files) or the .arrows file with its .json, "
       "or an app's export (its CSV/TXT files or its zip).")


def _too_big(name: str, size: int) -> UploadError:
    return UploadError(f"{name} is {size / 1e6:.0f} MB; the limit is {MAX_UPLOAD_MB} MB.")


def _from_zip(upload: UploadedFile) -> dict[str, bytes]:
    """The data file and sidecar of a zip; member names are never used as paths (no traversal)."""
    try:
        archive = zipfile.ZipFile(BytesIO(upload.data))
    except zipfile.BadZipFile:
        raise UploadError(f"{upload.name} is not a readable .zip file. {HOW}") from None
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir() and not Path(m.filename).name.startswith(".")]
        if sum(m.file_size for m in members) > MAX_UPLOAD_MB * 1_000_000:
            raise _too_big(f"{upload.name} unpacked", sum(m.file_size for m in members))
        found: dict[str, bytes] = {}
        for member in members:
            suffix = Path(member.filename).suffix
            if suffix not in (DATA_SUFFIX, SIDECAR_SUFFIX):
                continue
            if suffix in found:
                raise UploadError(f"{upload.name} holds more than one {suffix} file; zip one recording at a time.")
            try:
                found[suffix] = archive.read(member)
            except (zipfile.BadZipFile, OSError, RuntimeError) as exc:  # CRC error, encrypted member
                raise UploadError(f"{upload.name}: cannot unpack {Path(member.filename).name} ({exc}).") from None
    return found


def collect(uploads: list[UploadedFile]) -> dict[str, bytes]:
    """Suffix (``.arrows`` / ``.json``) -> bytes, from a zip or from the files themselves."""
    if not uploads:
        raise UploadError(f"Nothing was uploaded. {HOW}")
    for upload in uploads:
        if len(upload.data) > MAX_UPLOAD_MB * 1_000_000:
            raise _too_big(upload.name, len(upload.data))
    zips = [u for u in uploads if Path(u.name).suffix.lower() == ".zip"]
    if zips:
        if len(uploads) > 1:
            raise UploadError(f"Upload one .zip on its own. {HOW}")
        found = _from_zip(zips[0])
    else:
        found = {}
        for upload in uploads:
            suffix = Path(upload.name).suffix.lower()
            if suffix not in (DATA_SUFFIX, SIDECAR_SUFFIX):
                raise UploadError(f"{upload.name} is not a recording file. {HOW}")
            if suffix in found:
                raise UploadError(f"Two {suffix} files were uploaded; upload one recording at a time.")
            found[suffix] = upload.data
    if DATA_SUFFIX not in found:
        raise UploadError(f"No .arrows data file in the upload (a .json sidecar alone holds no samples). {HOW}")
    return found


def _is_export(uploads: list[UploadedFile]) -> bool:
    """CSV/TXT files, or a zip with no recording but CSV/TXT members: an app's export, not a recording."""
    if any(Path(u.name).suffix.lower() in TEXT_SUFFIXES for u in uploads):
        return True
    if len(uploads) != 1 or Path(uploads[0].name).suffix.lower() != ".zip":
        return False
    try:
        with zipfile.ZipFile(BytesIO(uploads[0].data)) as archive:
            names = [Path(n).suffix.lower() for n in archive.namelist()]
    except (zipfile.BadZipFile, OSError, ValueError):
        return False
    return DATA_SUFFIX not in names and any(n in TEXT_SUFFIXES for n in names)


def _store_export(uploads: list[UploadedFile], root: Path) -> Path:
    """The importer reads the export and writes the recording; upload names only label it."""
    for upload in uploads:
        if len(upload.data) > MAX_UPLOAD_MB * 1_000_000:
            raise _too_big(upload.name, len(upload.data))
    target = root / hashlib.sha256(b"".join(u.data for u in uploads)).hexdigest()[:16]
    done = sorted(target.glob(f"*{DATA_SUFFIX}"))
    if done:
        return done[0]
    sources = [s for u in uploads for s in unpack(Path(u.name).name, u.data, limit=MAX_UPLOAD_MB * 1_000_000)]
    try:
        path, _ = import_sources(sources, target)
    except OSError as exc:
        raise UploadError(f"Cannot keep the upload on this computer: {exc.strerror or exc}.") from None
    return path


def store(uploads: list[UploadedFile], folder: Path | None = None) -> Path:
    """Write the recording to a folder named by its content's hash; returns the ``.arrows`` path.

    Same content, same path: the analysis cache (keyed by path, mtime and size) is then reused.
    """
    root = folder or Path(tempfile.gettempdir()) / "pelvio-uploads"
    if uploads and _is_export(uploads):
        return _store_export(uploads, root)
    found = collect(uploads)
    digest = hashlib.sha256(b"".join(found[k] for k in sorted(found))).hexdigest()[:16]
    target = root / digest
    data = target / f"upload{DATA_SUFFIX}"
    if data.exists():
        return data
    try:
        target.mkdir(parents=True, exist_ok=True)
        for suffix, content in sorted(found.items(), key=lambda kv: kv[0] == DATA_SUFFIX):  # data last
            (target / f"upload{suffix}").write_bytes(content)
    except OSError as exc:
        raise UploadError(f"Cannot keep the upload on this computer: {exc.strerror or exc}.") from None
    return data
