"""SOUSA as the Hub publishes it: the same 12 clips as Parquet shards (tests/fixtures/
sousa-hub-mini) read, decoded, trained on, evaluated and played exactly like the generator's
layout, from a folder and from a real Hugging Face cache with no network."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sousa_train.config.settings import LoaderSettings
from sousa_train.data.audio import load_audio
from sousa_train.data.cache import DiskCache, MemoryCache
from sousa_train.data.clips import Clip, DatasetError
from sousa_train.data.datamodule import ClipDataModule
from sousa_train.data.fill import fill_cache
from sousa_train.data.reader import SousaDataset, open_dataset
from sousa_train.data.shards import ShardError, parse_location, read_audio
from sousa_train.rundir.layout import RunDir
from sousa_train.rundir.scan import find_runs
from sousa_train.rundir.tail import iter_events
from sousa_tui.evaluation.scores import audio_file, load_eval
from tests.cli import sousa_train
from tests.conftest import FIXTURES

HUB = FIXTURES / "sousa-hub-mini"
FIELDS = (
    "sample_id",
    "label",
    "slug",
    "split",
    "profile_id",
    "tempo_bpm",
    "duration_sec",
    "skill_tier",
    "soundfont",
    "augmentation_preset",
)


@pytest.fixture
def hub_copy(tmp_path: Path) -> Path:
    """A writable copy of the Hub-layout fixture, for tests that damage it."""
    copy = Path(shutil.copytree(HUB, tmp_path / "hub"))
    for path in (copy, *copy.rglob("*")):
        path.chmod(path.stat().st_mode | 0o200)
    return copy


def facts(data: SousaDataset) -> list[tuple]:
    return sorted(tuple(getattr(c, f) for f in FIELDS) for c in data.all_clips())


def by_id(data: SousaDataset) -> dict[str, Clip]:
    return {c.sample_id: c for c in data.all_clips()}


def rewrite_shard(shard: Path, row_group_size: int, bad_row: int | None = None) -> None:
    """The shard again with small row groups, and optionally one row's FLAC bytes garbage."""
    table = pq.read_table(shard)
    if bad_row is not None:
        cells = table.column("audio").to_pylist()
        cells[bad_row] = {**cells[bad_row], "bytes": b"fLaC" + bytes(range(256)) * 8}
        index = table.column_names.index("audio")
        table = table.set_column(index, "audio", pa.array(cells, table.schema.field("audio").type))
    pq.write_table(table, shard, row_group_size=row_group_size)


def test_the_hub_layout_holds_the_same_clips_labels_and_splits(fixture_root: Path) -> None:
    hub, real = open_dataset(HUB), open_dataset(fixture_root)
    assert hub.layout == "hub" and real.layout == "sousa"
    assert facts(hub) == facts(real)  # validation became val; NaN floats read as missing
    for clip in hub.all_clips():
        shard = {"val": "validation"}.get(clip.split, clip.split)
        assert clip.path == HUB / "audio" / f"{shard}-00000-of-00001.parquet"
        assert clip.audio_path == f"audio/{shard}-00000-of-00001.parquet#row={clip.row}"
        assert parse_location(clip.audio_path) == (
            f"audio/{shard}-00000-of-00001.parquet",
            clip.row,
        )
    assert hub.fingerprint != real.fingerprint


def test_the_layout_is_found_without_the_readme_too(hub_copy: Path, fixture_root: Path) -> None:
    (hub_copy / "README.md").unlink()
    assert facts(open_dataset(hub_copy)) == facts(open_dataset(fixture_root))
    (hub_copy / "audio" / "train-00000-of-00001.parquet").rename(
        hub_copy / "audio" / "shard_0.parquet"
    )
    with pytest.raises(
        DatasetError, match=r"shard_0\.parquet: a Hub-layout shard's name must start"
    ):
        open_dataset(hub_copy)


def test_a_shard_without_sound_is_named(hub_copy: Path) -> None:
    shard = hub_copy / "audio" / "validation-00000-of-00001.parquet"
    pq.write_table(pq.read_table(shard).drop_columns(["audio"]), shard)
    with pytest.raises(DatasetError, match=f"^{shard}: has no 'audio' column"):
        open_dataset(hub_copy)


def test_shard_bytes_are_the_flac_files_and_decode_to_identical_waves(fixture_root: Path) -> None:
    real = by_id(open_dataset(fixture_root))
    hub = open_dataset(HUB)
    cache = MemoryCache()
    assert fill_cache(hub.all_clips(), cache, 16000) == {}
    for clip in hub.all_clips():
        file = real[clip.sample_id].path
        assert read_audio(clip.path, clip.row) == file.read_bytes()
        expected = load_audio(file, 16000).half().float()  # the caches keep float16
        got = cache.get(clip)
        assert got is not None and np.array_equal(got.numpy(), expected.numpy())


def test_the_loader_gives_identical_items_for_both_layouts(
    fixture_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOUSA_CACHE_DIR", str(tmp_path / "cache"))
    loader = LoaderSettings(batch_size=4, num_workers=0, clip_seconds=2.0, cache="disk")
    hub = ClipDataModule(open_dataset(HUB), loader, 16000)
    real = ClipDataModule(open_dataset(fixture_root), loader, 16000)
    for split in ("train", "val", "test"):
        h, r = hub.make_dataset(split, train=False), real.make_dataset(split, train=False)
        assert isinstance(hub.source.cache, DiskCache)
        assert all(hub.source.cache.has(c) for c in h.clips)  # streamed in before the first step
        real_items = {c.sample_id: r[i] for i, c in enumerate(r.clips)}
        assert sorted(real_items) == sorted(c.sample_id for c in h.clips)
        for i, clip in enumerate(h.clips):
            item, expected = h[i], real_items[clip.sample_id]
            assert item["label"] == expected["label"]
            assert np.array_equal(item["wave"].numpy(), expected["wave"].numpy())


def test_an_undecodable_cell_is_a_counted_skip_and_the_rest_are_cached(hub_copy: Path) -> None:
    shard = hub_copy / "audio" / "train-00000-of-00001.parquet"
    rewrite_shard(shard, row_group_size=2, bad_row=1)
    data = open_dataset(hub_copy)
    module = ClipDataModule(data, LoaderSettings(num_workers=0, cache="none"), 16000)
    train = module.make_dataset("train", train=True)
    bad = next(c for c in train.clips if c.row == 1)
    assert list(module.source.unreadable) == [bad.audio_path]
    assert "cannot decode" in module.source.unreadable[bad.audio_path]
    items = [train[i] for i in range(len(train))]
    skipped = [item["skipped"] for item in items if "skipped" in item]
    assert skipped == [f"{shard}#row=1"]
    assert sum("wave" in item for item in items) == 3


def test_a_damaged_shard_is_one_paragraph_naming_it_and_the_row(hub_copy: Path) -> None:
    shard = hub_copy / "audio" / "train-00000-of-00001.parquet"
    rewrite_shard(shard, row_group_size=1)
    group = pq.ParquetFile(shard).metadata.row_group(2)
    audio = next(
        group.column(i)
        for i in range(group.num_columns)
        if group.column(i).path_in_schema == "audio.bytes"
    )
    raw = bytearray(shard.read_bytes())
    raw[audio.data_page_offset : audio.data_page_offset + 64] = b"\xff" * 64
    shard.write_bytes(bytes(raw))
    data = open_dataset(hub_copy)  # the label columns are intact
    with pytest.raises(ShardError) as info:
        fill_cache(data.clips("train"), MemoryCache(), 16000)
    assert str(info.value).startswith(f"{shard}: cannot be read at row 2 (")
    assert "Download it again" in str(info.value)

    shard.write_bytes(bytes(raw[: len(raw) // 2]))  # truncated: no footer at all
    with pytest.raises(DatasetError, match=f"^{shard}: cannot be read"):
        open_dataset(hub_copy)


def test_data_check_names_the_layout_and_decodes_every_cell(hub_copy: Path) -> None:
    ok = sousa_train("data", "check", str(HUB))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "(hub layout, 3 audio shard(s) in audio/)" in ok.stdout
    assert "12 files decoded in full, 12 usable" in ok.stdout
    assert "FLAC PCM_24 x 12" in ok.stdout and "  val        4 clips" in ok.stdout
    rewrite_shard(hub_copy / "audio" / "test-00000-of-00001.parquet", 4, bad_row=3)
    bad = sousa_train("data", "check", str(hub_copy))
    assert bad.returncode == 1
    assert f"unreadable audio files: 1\n  {hub_copy}/audio/test-00000-of-00001.parquet#row=3 (" in (
        bad.stdout
    )


def hf_cache(home: Path, repo: str, commit: str) -> None:
    """A Hugging Face cache holding ``repo`` as huggingface_hub writes it: refs/main names
    the commit, snapshots/<commit>/ links each file to its blob."""
    folder = home / "hub" / f"datasets--{repo.replace('/', '--')}"
    (folder / "refs").mkdir(parents=True)
    (folder / "refs" / "main").write_text(commit)
    for i, source in enumerate(sorted(p for p in HUB.rglob("*") if p.is_file())):
        blob = folder / "blobs" / f"{i:040x}"
        blob.parent.mkdir(exist_ok=True)
        shutil.copyfile(source, blob)
        link = folder / "snapshots" / commit / source.relative_to(HUB)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))


def test_hub_repo_resolves_from_the_cache_offline(tmp_path: Path, fixture_root: Path) -> None:
    commit = "a" * 40
    hf_cache(tmp_path / "hf", "zkeown/sousa", commit)
    script = (
        "import json, sys\n"
        "from sousa_train.config.settings import DatasetSpec\n"
        "from sousa_train.data.reader import open_dataset\n"
        "from sousa_train.data.sources import dataset_root\n"
        "from sousa_train.data.clips import DatasetError\n"
        "try:\n"
        "    root = dataset_root(DatasetSpec('sousa', hub='zkeown/sousa', revision=sys.argv[1]))\n"
        "except DatasetError as exc:\n"
        "    sys.exit(str(exc))\n"
        "data = open_dataset(root)\n"
        "print(json.dumps([str(root), data.layout, [(c.sample_id, c.split, c.label)"
        " for c in data.all_clips()]]))\n"
    )
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1"}
    env.pop("HF_HUB_CACHE", None)
    for revision in ("main", commit):
        result = subprocess.run(
            [sys.executable, "-c", script, revision],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        root, layout, clips = json.loads(result.stdout)
        assert Path(root) == tmp_path / "hf/hub/datasets--zkeown--sousa/snapshots" / commit
        assert layout == "hub"
        real = open_dataset(fixture_root).all_clips()
        assert sorted(map(tuple, clips)) == sorted((c.sample_id, c.split, c.label) for c in real)
    missing = subprocess.run(
        [sys.executable, "-c", script, "v9"], env=env, capture_output=True, text=True, timeout=120
    )
    assert missing.returncode == 1
    assert "Hugging Face data set zkeown/sousa at revision v9: cannot be fetched" in missing.stderr


@pytest.fixture(scope="module")
def hub_run(tmp_path_factory: pytest.TempPathFactory) -> RunDir:
    """One real tiny training run on a Hub-layout copy whose train shard has one bad cell."""
    tmp = tmp_path_factory.mktemp("hubrun")
    data = Path(shutil.copytree(HUB, tmp / "hub"))
    for path in (data, *data.rglob("*")):
        path.chmod(path.stat().st_mode | 0o200)
    rewrite_shard(data / "audio" / "train-00000-of-00001.parquet", 2, bad_row=0)
    manifest = tmp / "experiments.toml"
    manifest.write_text(
        f'[datasets.hub]\npath = "{data}"\n\n'
        "[experiments.hub-smoke]\n"
        'model = "efficientat"\nvariant = "tiny"\nstrategy = "from_scratch"\ndata = "hub"\n'
        "train = { max_epochs = 2, early_stop_patience = 0, log_every_steps = 1 }\n"
        "loader = { batch_size = 4, num_workers = 0, clip_seconds = 2.0, eval_hop_seconds = 1.0 }\n"
    )
    result = sousa_train(
        *("run", "hub-smoke", "--manifest", str(manifest), "--runs-dir", str(tmp / "runs")),
        env={"SOUSA_CACHE_DIR": str(tmp / "cache")},
        cwd=tmp,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (run,) = find_runs(tmp / "runs", "hub-smoke")
    return run


def test_a_real_run_on_the_hub_layout_trains_evaluates_and_plays(
    hub_run: RunDir, fixture_root: Path
) -> None:
    config = json.loads(hub_run.config.read_text())
    root = Path(config["data_root"])
    assert config["clips"] == {"train": 4, "val": 4, "test": 4}
    status = json.loads(hub_run.status.read_text())
    assert status["state"] == "finished"
    skips = [e for e in iter_events(hub_run.events) if e["kind"] == "skip"]
    bad = f"{root}/audio/train-00000-of-00001.parquet#row=0"
    assert skips and all(e["paths"] == [bad] for e in skips)  # counted once per epoch
    assert len(skips) == 2

    real = by_id(open_dataset(fixture_root))
    data = load_eval(hub_run.root, "test")
    assert sorted(p.sample_id for p in data.predictions) == sorted(
        c.sample_id for c in real.values() if c.split == "test"
    )
    for prediction in data.predictions:
        assert prediction.label == real[prediction.sample_id].label
        assert prediction.audio_path.startswith("audio/test-00000-of-00001.parquet#row=")
        shard, row = parse_location(str(audio_file(data, prediction)))
        assert row is not None
        assert read_audio(Path(shard), row) == real[prediction.sample_id].path.read_bytes()
