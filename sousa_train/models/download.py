"""Official weight files on disk: the weights folder, resumable atomic downloads, sha256 records.

A download goes to ``NAME.part`` (continued with an HTTP Range request after an interruption)
and is renamed to ``NAME`` only when complete, so a file under its own name is never half
written. Its sha256 is recorded in ``sha256.json`` beside it, and every later load checks the
file against that record: a file changed on disk fails at the start of a run, not as odd
accuracy after it. Torch-free.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import time
import urllib.error
import urllib.request
from pathlib import Path

from sousa_train.config.paths import cache_dir
from sousa_train.models.pretrained import OFFICIAL_FILES, OfficialWeights
from sousa_train.rundir.layout import read_json, write_json_atomic

RECORDS = "sha256.json"
PART_SUFFIX = ".part"
_CHUNK = 1 << 20


class WeightsError(RuntimeError):
    """A weights file that is corrupt or cannot be fetched; the message says what to do."""


def weights_dir() -> Path:
    """$SOUSA_WEIGHTS_DIR, else ``weights/`` in the cache folder."""
    env = os.environ.get("SOUSA_WEIGHTS_DIR")
    return Path(env).expanduser() if env else cache_dir() / "weights"


def download_url(weights: OfficialWeights) -> str | None:
    """The file's URL; $SOUSA_WEIGHTS_MIRROR replaces everything up to the file name."""
    mirror = os.environ.get("SOUSA_WEIGHTS_MIRROR")
    if mirror and weights.file:
        return mirror.rstrip("/") + "/" + weights.file
    return weights.url


def sha256_of(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def recorded(path: Path) -> dict | None:
    """The record of ``path`` in the ``sha256.json`` of its folder, if any."""
    records = read_json(path.parent / RECORDS) or {}
    return records.get(path.name)


def record(path: Path, sha256: str, url: str | None) -> None:
    records = read_json(path.parent / RECORDS) or {}
    records[path.name] = {
        "sha256": sha256,
        "size": path.stat().st_size,
        "url": url,
        "recorded": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    write_json_atomic(path.parent / RECORDS, records)


def verify(path: Path) -> str | None:
    """Check ``path`` against its recorded sha256; return the digest (None: nothing recorded)."""
    entry = recorded(path)
    if entry is None:
        return None
    got = sha256_of(path)
    if got != entry["sha256"]:
        raise WeightsError(
            f"{path}: this weights file is not the one that was downloaded: its sha256 is "
            f"{got}, but {path.parent / RECORDS} recorded {entry['sha256']} when it was "
            "fetched. The file was changed or damaged on disk; delete it and fetch it again "
            f"(`sousa-train weights fetch MODEL/VARIANT`), or remove its entry from {RECORDS} "
            "if you replaced it on purpose."
        )
    return got


def resolve_file(pretrained: str) -> str:
    """A bare official file name means that file in the weights folder; any other value is
    used as given. A file with a recorded sha256 is checked against it."""
    path = weights_dir() / pretrained if pretrained in OFFICIAL_FILES else Path(pretrained)
    if path.is_file():
        verify(path)
    # An absent official file resolves too, so the builder's error names where it belongs.
    return str(path) if pretrained in OFFICIAL_FILES else pretrained


def presence(path: Path) -> str:
    """``present`` (digest matches its record), ``unrecorded`` (no record: fetch records it),
    ``corrupt`` (digest differs), ``partial`` (an interrupted download) or ``absent``."""
    if path.is_file():
        try:
            return "present" if verify(path) else "unrecorded"
        except WeightsError:
            return "corrupt"
    return "partial" if path.with_name(path.name + PART_SUFFIX).is_file() else "absent"


def fetch_file(url: str, dest: Path) -> str:
    """Download ``url`` to ``dest`` (resuming ``dest.part``), rename it, record its sha256."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + PART_SUFFIX)
    have = part.stat().st_size if part.is_file() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            _receive(response, part, have, url, dest)
    except urllib.error.HTTPError as exc:
        if exc.code != 416 or not have:  # 416 to a Range: the part is already whole
            raise WeightsError(_unreachable(url, dest, f"HTTP {exc.code} {exc.reason}")) from exc
    except (urllib.error.URLError, OSError) as exc:
        raise WeightsError(_unreachable(url, dest, str(exc))) from exc
    if part.stat().st_size == 0:
        raise WeightsError(_unreachable(url, dest, "the server sent an empty file"))
    digest = sha256_of(part)
    os.replace(part, dest)
    record(dest, digest, url)
    return digest


def _receive(
    response: http.client.HTTPResponse, part: Path, have: int, url: str, dest: Path
) -> None:
    """Append the body to ``part`` (rewrite it if the server ignored the Range), with a bar."""
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    if have and response.status != 206:
        have = 0
    length = response.headers.get("Content-Length")
    total = have + int(length) if length is not None else None
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with part.open("ab" if have else "wb") as out, Progress(*columns) as progress:
        task = progress.add_task(dest.name, total=total, completed=have)
        try:
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                progress.advance(task, len(chunk))
        except (OSError, http.client.HTTPException) as exc:
            raise WeightsError(_unreachable(url, dest, f"interrupted: {exc!r}")) from exc
    got = part.stat().st_size
    if total is not None and got != total:  # a dropped connection reads as a short body
        raise WeightsError(
            _unreachable(url, dest, f"the connection ended after {got} of {total} bytes")
        )


def _unreachable(url: str, dest: Path, why: str) -> str:
    return (
        f"{dest.name}: could not download {url} ({why}). What arrived so far is kept in "
        f"{dest}{PART_SUFFIX} and the next `sousa-train weights fetch` continues from it. "
        "Check the network, or point SOUSA_WEIGHTS_MIRROR at a local mirror of the files."
    )


_HUB_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def hub_presence(hub_id: str) -> str:
    """``present`` when the Hugging Face cache holds the snapshot's config and weights."""
    from huggingface_hub import try_to_load_from_cache

    def cached(name: str) -> bool:
        return isinstance(try_to_load_from_cache(hub_id, name), str)

    if not cached("config.json"):
        return "absent"
    return "present" if any(cached(n) for n in _HUB_WEIGHT_FILES) else "partial"


def weights_presence(weights: OfficialWeights) -> str:
    if weights.hub_id:
        return hub_presence(weights.hub_id)
    return presence(weights_dir() / str(weights.file))


def fetch(weights: OfficialWeights) -> str:
    """Bring one variant's official weights here; return a line saying what was done."""
    if weights.hub_id:
        from huggingface_hub import snapshot_download

        try:
            folder = snapshot_download(weights.hub_id)
        except OSError as exc:
            raise WeightsError(
                f"{weights.name}: could not download {weights.hub_id} from the Hugging Face "
                f"Hub ({exc}). Check the network (HF_ENDPOINT for a mirror, HF_TOKEN if the "
                "Hub asks for one) and run the command again; completed files are kept."
            ) from exc
        return f"{weights.name}: {weights.hub_id} is in the Hugging Face cache ({folder})"
    dest = weights_dir() / str(weights.file)
    state = presence(dest)
    if state == "present":
        return f"{weights.name}: {dest} is already here (sha256 checked)"
    if state == "unrecorded":
        record(dest, sha256_of(dest), None)
        return f"{weights.name}: {dest} was already here; recorded its sha256"
    url = download_url(weights)
    if url is None:
        raise WeightsError(
            f"{weights.name}: {weights.file} is published only as a share page no program "
            f"can download ({weights.page}, linked from its authors' README). Open it in a "
            f"browser, save the file as {dest}, then run `sousa-train weights fetch "
            f"{weights.name}` again to record its sha256; or set SOUSA_WEIGHTS_MIRROR to a "
            "server that holds it."
        )
    if state == "corrupt":
        dest.unlink()
    digest = fetch_file(url, dest)
    return f"{weights.name}: downloaded {dest} (sha256 {digest})"
