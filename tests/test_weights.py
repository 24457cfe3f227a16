"""`sousa-train weights` against a real HTTP server on 127.0.0.1: fetch, resume, sha256, listing.

The server serves files this test wrote (a real EfficientAT tiny state dict under its official
release name) and honours Range requests; SOUSA_WEIGHTS_MIRROR points the fetch at it. Nothing
reaches the internet: the Hugging Face cache is an empty temporary folder, offline.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch

from sousa_train.models.download import WeightsError
from sousa_train.models.efficientat import MobileNetV3
from sousa_train.models.pretrained import OFFICIAL
from sousa_train.models.registry import build_model
from tests.cli import sousa_train_process

TINY_FILE = "mn01_as_mAP_298.pt"  # the official release name of efficientat/tiny
AST_HUB_ID = "MIT/ast-finetuned-audioset-10-10-0.4593"


class Server:
    """Files by name; ``cut_after`` bytes of the next response, then the connection drops."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[dict[str, str | None]] = []
        self.cut_after: int | None = None
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                name = self.path.rsplit("/", 1)[-1]
                rng = self.headers.get("Range")
                server.requests.append({"name": name, "range": rng})
                if name not in server.files:
                    self.send_error(404)
                    return
                data = server.files[name]
                start = int(rng.removeprefix("bytes=").split("-")[0]) if rng else 0
                self.send_response(206 if rng else 200)
                if rng:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                body = data[start:]
                if server.cut_after is not None:
                    body, server.cut_after = body[: server.cut_after], None
                    self.close_connection = True
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/releases/"


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    thread = threading.Thread(target=s.httpd.serve_forever, daemon=True)
    thread.start()
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()


@pytest.fixture
def tiny_weights(tmp_path: Path) -> tuple[bytes, dict[str, torch.Tensor]]:
    """A real plain state dict of the tiny (mn01) network, 527 AudioSet classes, as bytes."""
    torch.manual_seed(0)
    state = MobileNetV3(0.1, 527).state_dict()
    path = tmp_path / "written.pt"
    torch.save(state, path)
    return path.read_bytes(), state


@pytest.fixture
def env(tmp_path: Path, server: Server, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = {
        "SOUSA_WEIGHTS_DIR": str(tmp_path / "weights"),
        "SOUSA_WEIGHTS_MIRROR": server.url,
        "HF_HUB_CACHE": str(tmp_path / "hf"),
        "HF_HUB_OFFLINE": "1",
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return {**os.environ, **values}


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """A real process: huggingface_hub reads HF_HUB_CACHE and HF_HUB_OFFLINE at import."""
    return sousa_train_process("weights", *args, env=env)


def states(env: dict[str, str]) -> dict[str, str]:
    """variant -> state column of the listing."""
    listed = cli(env)
    assert listed.returncode == 0, listed.stderr
    rows = [line.split() for line in listed.stdout.splitlines()[1:] if "/" in line.split()[0]]
    return {row[0]: row[2] for row in rows}


def test_fetch_downloads_atomically_records_sha256_and_lists_present(
    env: dict[str, str], server: Server, tiny_weights: tuple[bytes, dict]
) -> None:
    data, _ = tiny_weights
    server.files[TINY_FILE] = data
    before = states(env)
    assert before["efficientat/tiny"] == "absent" and before["ast/base"] == "absent"

    fetched = cli(env, "fetch", "efficientat/tiny")
    assert fetched.returncode == 0, fetched.stderr
    folder = Path(env["SOUSA_WEIGHTS_DIR"])
    assert (folder / TINY_FILE).read_bytes() == data
    assert not (folder / f"{TINY_FILE}.part").exists()
    record = json.loads((folder / "sha256.json").read_text())[TINY_FILE]
    assert record["sha256"] == hashlib.sha256(data).hexdigest()
    assert record["url"] == server.url + TINY_FILE
    assert server.requests == [{"name": TINY_FILE, "range": None}]

    after = states(env)
    assert after["efficientat/tiny"] == "present"
    assert after["efficientat/mn04"] == "absent"  # the listing is per file, not per folder

    again = cli(env, "fetch", "efficientat/tiny")
    assert again.returncode == 0 and "already here" in again.stdout
    assert len(server.requests) == 1  # a present, verified file is not downloaded again


def test_interrupted_fetch_keeps_its_part_and_resumes_with_a_range_request(
    env: dict[str, str], server: Server, tiny_weights: tuple[bytes, dict]
) -> None:
    data, _ = tiny_weights
    server.files[TINY_FILE] = data
    half = len(data) // 2
    server.cut_after = half
    folder = Path(env["SOUSA_WEIGHTS_DIR"])

    broken = cli(env, "fetch", "efficientat/tiny")
    assert broken.returncode == 1
    assert broken.stderr.startswith("sousa-train: ") and ".part" in broken.stderr
    part = folder / f"{TINY_FILE}.part"
    assert part.read_bytes() == data[:half]
    assert not (folder / TINY_FILE).exists()  # never a half file under the real name
    assert states(env)["efficientat/tiny"] == "partial"

    resumed = cli(env, "fetch", "efficientat/tiny")
    assert resumed.returncode == 0, resumed.stderr
    assert server.requests[-1] == {"name": TINY_FILE, "range": f"bytes={half}-"}
    assert (folder / TINY_FILE).read_bytes() == data
    assert not part.exists()
    assert states(env)["efficientat/tiny"] == "present"


def test_bare_official_name_loads_from_the_folder_and_a_changed_file_is_refused(
    env: dict[str, str], server: Server, tiny_weights: tuple[bytes, dict]
) -> None:
    data, state = tiny_weights
    server.files[TINY_FILE] = data
    assert cli(env, "fetch", "efficientat/tiny").returncode == 0

    model = build_model(
        "efficientat", variant="tiny", num_classes=40, pretrained=TINY_FILE, sample_rate=32000
    )
    loaded = model.network.state_dict()
    assert torch.equal(loaded["features.0.0.weight"], state["features.0.0.weight"])

    path = Path(env["SOUSA_WEIGHTS_DIR"]) / TINY_FILE
    damaged = bytearray(data)
    damaged[len(damaged) // 2] ^= 0xFF
    path.write_bytes(bytes(damaged))
    with pytest.raises(WeightsError) as info:
        build_model(
            "efficientat", variant="tiny", num_classes=40, pretrained=TINY_FILE, sample_rate=32000
        )
    message = str(info.value)
    assert str(path) in message
    assert hashlib.sha256(data).hexdigest() in message  # expected
    assert hashlib.sha256(bytes(damaged)).hexdigest() in message  # got
    assert "fetch it again" in message
    assert states(env)["efficientat/tiny"] == "corrupt"

    refetched = cli(env, "fetch", "efficientat/tiny")
    assert refetched.returncode == 0, refetched.stderr
    assert path.read_bytes() == data


def test_hub_snapshot_in_the_cache_lists_as_present(env: dict[str, str], tmp_path: Path) -> None:
    """The Hugging Face cache layout (refs/main -> snapshots/<commit>/files) is read as is."""
    repo = Path(env["HF_HUB_CACHE"]) / f"models--{AST_HUB_ID.replace('/', '--')}"
    commit = "0" * 40
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    assert states(env)["ast/base"] == "partial"  # a config without weights is not enough
    (snapshot / "model.safetensors").write_bytes(b"x")
    listed = states(env)
    assert listed["ast/base"] == "present" and listed["htsat/base"] == "absent"


def test_fetch_errors_are_one_paragraph(env: dict[str, str], server: Server) -> None:
    unknown = cli(env, "fetch", "efficientat/mn99")
    assert unknown.returncode == 1 and "efficientat/mn10" in unknown.stderr
    missing = cli(env, "fetch", "efficientat/mn04")  # the mirror has no such file
    assert missing.returncode == 1 and "HTTP 404" in missing.stderr
    env = {k: v for k, v in env.items() if k != "SOUSA_WEIGHTS_MIRROR"}
    beats = cli(env, "fetch", "beats/base")
    assert beats.returncode == 1
    assert "1drv.ms" in beats.stderr and "BEATs_iter3_plus_AS2M.pt" in beats.stderr


def test_an_absent_official_file_is_looked_for_in_the_weights_folder(env: dict[str, str]) -> None:
    with pytest.raises(FileNotFoundError) as info:
        build_model(
            "efficientat", variant="tiny", num_classes=40, pretrained=TINY_FILE, sample_rate=32000
        )
    message = str(info.value)
    assert str(Path(env["SOUSA_WEIGHTS_DIR"]) / TINY_FILE) in message
    assert "sousa-train weights fetch efficientat/tiny" in message


def test_fetch_all_gets_every_file_and_reports_each_failure(
    env: dict[str, str], server: Server
) -> None:
    """With a mirror every release file is fetched; offline hub ids fail one line each."""
    files = [w.file for w in OFFICIAL if w.file]
    for name in files:
        server.files[name] = name.encode() * 100
    fetched = cli(env, "fetch", "--all")
    assert fetched.returncode == 1  # the two hub ids cannot download offline
    assert sorted(r["name"] for r in server.requests) == sorted(files)
    assert fetched.stderr.count("sousa-train: ") == 2
    assert "ast/base" in fetched.stderr and "htsat/base" in fetched.stderr
    listed = states(env)
    assert all(listed[w.name] == "present" for w in OFFICIAL if w.file)
