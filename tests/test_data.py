"""Reading SOUSA data sets and their audio: the real sample, damaged files, both layouts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
import soundfile as sf
import torch
from torch.utils.data import DataLoader

from sousa_train.data import audio
from sousa_train.data.cache import DiskCache, MemoryCache
from sousa_train.data.clips import ClipFilter
from sousa_train.data.dataset import ClipDataset, collate_clips, pool_windows
from sousa_train.data.reader import DatasetError, open_dataset
from tests.conftest import write_tone_set


def test_real_fixture_loads_unchanged(fixture_root: Path) -> None:
    data = open_dataset(fixture_root)
    assert data.layout == "sousa"
    assert [len(data.clips(s)) for s in ("train", "val", "test")] == [4, 4, 4]
    assert data.rudiments() == {
        "flam_accent",
        "single_paradiddle",
        "five_stroke_roll",
        "single_ratamacue",
    }
    clip = next(c for c in data.clips("train") if c.slug == "flam_accent")
    assert (
        clip.label == 20
        and clip.path.is_file()
        and clip.audio_path.startswith("audio/flam_accent/")
    )
    assert clip.tempo_bpm and clip.skill_tier and clip.augmentation_preset and clip.profile_id
    profiles = {s: {c.profile_id for c in data.clips(s)} for s in ("train", "val", "test")}
    assert all(len(p) == 1 for p in profiles.values()) and len(set.union(*profiles.values())) == 3
    data.require_trainable()


def test_stereo_24bit_becomes_mono_at_the_model_rate(fixture_root: Path) -> None:
    clip = open_dataset(fixture_root).clips("test")[0]
    info = sf.info(clip.path)
    assert info.channels == 2 and info.samplerate == 44100
    wave = audio.load_audio(clip.path, 16000)
    assert wave.dim() == 1 and wave.dtype == torch.float32
    assert abs(wave.shape[0] - round(info.frames * 16000 / 44100)) <= 1
    stereo, _ = sf.read(clip.path, dtype="float32")
    assert float(wave.abs().max()) == pytest.approx(float(np.abs(stereo.mean(1)).max()), rel=0.1)
    before = audio.resampler.cache_info().currsize
    audio.load_audio(open_dataset(fixture_root).clips("val")[0].path, 16000)
    assert audio.resampler.cache_info().currsize == before  # one kernel per rate pair


def test_eval_windows_cover_the_whole_clip() -> None:
    wave = torch.arange(10_000, dtype=torch.float32)
    windows = audio.eval_windows(wave, 3000, 1500)
    assert windows[0, 0] == 0 and windows[-1, -1] == 9999
    assert windows.shape == (6, 3000)
    short = audio.eval_windows(torch.ones(100), 3000, 1500)
    assert short.shape == (1, 3000) and short[0, 100:].abs().sum() == 0
    g = torch.Generator().manual_seed(0)
    crops = {int(audio.random_crop(wave, 3000, g)[0]) for _ in range(20)}
    assert len(crops) > 1 and max(crops) <= 7000


def test_filters_and_a_budget_that_keeps_every_rudiment(fixture_root: Path, tmp_path: Path) -> None:
    data = open_dataset(fixture_root, ClipFilter(tempo_min=130))
    assert all(c.tempo_bpm >= 130 for c in data.all_clips()) and len(data.all_clips()) == 8
    data = open_dataset(fixture_root, ClipFilter(augmentation_presets=("gym",)))
    assert {c.augmentation_preset for c in data.all_clips()} == {"gym"}
    with pytest.raises(DatasetError, match="leaves no clips"):
        open_dataset(fixture_root, ClipFilter(soundfonts=("nope",)))
    root = write_tone_set(tmp_path / "tones", ["flam", "drag", "flam_tap"], per_split=5)
    budgeted = open_dataset(root, ClipFilter(max_clips_per_split=4, seed=1))
    for split in ("train", "val", "test"):
        assert len(budgeted.clips(split)) == 4
        assert budgeted.rudiments(split) == {"flam", "drag", "flam_tap"}
    with pytest.raises(DatasetError, match="smaller than the 3 rudiments"):
        open_dataset(root, ClipFilter(max_clips_per_split=2))


def test_metadata_csv_layout_with_flat_audio_and_dashed_labels(tmp_path: Path) -> None:
    rows = []
    (tmp_path / "audio").mkdir()
    for i, (split, label) in enumerate(
        [
            ("train", "flam-accent"),
            ("validation", "single_paradiddle_diddle"),
            ("test", "Drag-Paradiddle-1"),
        ]
    ):
        sf.write(tmp_path / "audio" / f"c{i}.flac", np.zeros(800, np.float32) + 0.1, 8000)
        rows.append({"sample_id": f"c{i}", "rudiment_slug": label, "split": split})
    pacsv.write_csv(pa.Table.from_pylist(rows), tmp_path / "metadata.csv")
    data = open_dataset(tmp_path)
    assert data.layout == "metadata_csv"
    assert [c.slug for c in data.all_clips()] == [
        "flam_accent",
        "paradiddle_diddle",
        "drag_paradiddle_1",
    ]
    assert all(c.path.is_file() for c in data.all_clips())


@pytest.mark.parametrize(
    ("damage", "needle"),
    [
        (lambda r: (r / "splits.json").unlink(), "splits.json: missing"),
        (lambda r: (r / "labels" / "samples.parquet").write_bytes(b"junk"), "cannot be read"),
        (
            lambda r: pq.write_table(
                pq.read_table(r / "labels/samples.parquet").drop(["rudiment_slug"]),
                r / "labels/samples.parquet",
            ),
            "rudiment_slug",
        ),
        (
            lambda r: pq.write_table(
                pq.read_table(r / "labels/samples.parquet").set_column(
                    2, "rudiment_slug", pa.array(["cowbell"] * 12)
                ),
                r / "labels/samples.parquet",
            ),
            "'cowbell' is not one of the 40",
        ),
        (
            lambda r: (r / "splits.json").write_text(
                json.dumps(
                    {
                        **json.loads((r / "splits.json").read_text()),
                        "val_profile_ids": json.loads((r / "splits.json").read_text())[
                            "train_profile_ids"
                        ],
                    }
                )
            ),
            "in both train and val",
        ),
    ],
)
def test_broken_data_sets_name_the_file(fixture_copy: Path, damage, needle: str) -> None:
    damage(fixture_copy)
    with pytest.raises(DatasetError) as info:
        open_dataset(fixture_copy)
    assert needle in str(info.value) and str(fixture_copy) in str(info.value)


def test_missing_split_is_a_clear_error(tmp_path: Path) -> None:
    root = write_tone_set(tmp_path / "tones", ["flam", "drag"], per_split=1)
    table = pq.read_table(root / "labels/samples.parquet").to_pylist()
    kept = [r for r in table if not (r["profile_id"] == "p-val" and r["rudiment_slug"] == "drag")]
    pq.write_table(pa.Table.from_pylist(kept), root / "labels/samples.parquet")
    with pytest.raises(DatasetError, match=r"val split lacks 1 rudiment.*drag"):
        open_dataset(root).require_trainable()


def corrupt_set(tmp_path: Path) -> tuple[Path, list]:
    root = write_tone_set(tmp_path / "tones", ["flam", "drag"], per_split=3)
    clips = open_dataset(root).clips("train")
    clips[0].path.write_bytes(b"fLaC" + bytes(range(256)) * 4)  # header then garbage
    clips[1].path.write_bytes(b"")  # empty
    clips[2].path.unlink()  # missing
    good = clips[3].path.read_bytes()
    clips[4].path.write_bytes(good[: len(good) // 3])  # truncated mid-stream
    return root, clips


@pytest.mark.parametrize("workers", [0, 2])
def test_bad_audio_is_skipped_and_reported_never_fatal(tmp_path: Path, workers: int) -> None:
    _, clips = corrupt_set(tmp_path)
    dataset = ClipDataset(clips, sample_rate=16000, clip_samples=8000, train=True)
    loader = DataLoader(dataset, batch_size=4, num_workers=workers, collate_fn=collate_clips)
    seen, skipped = 0, []
    for batch in loader:
        assert batch["wave"].shape[0] == batch["label"].shape[0]
        seen += batch["label"].numel()
        skipped += batch["skipped"]
    assert seen + len(skipped) == len(clips)
    assert {str(clips[i].path) for i in (0, 1, 2)} <= set(skipped)
    assert seen >= 2


def test_eval_batches_keep_windows_with_their_clip(fixture_root: Path) -> None:
    clips = open_dataset(fixture_root).clips("test")
    dataset = ClipDataset(clips, sample_rate=16000, clip_samples=32000, train=False, eval_hop=16000)
    batch = collate_clips([dataset[i] for i in range(len(clips))])
    assert batch["wave"].shape[0] > len(clips)  # clips of 3-5 s give several 2 s windows
    assert batch["owner"].max() == len(clips) - 1
    logits = torch.randn(batch["wave"].shape[0], 40)
    pooled = pool_windows(logits, batch["owner"], len(clips))
    first = logits[batch["owner"] == 0].log_softmax(-1).mean(0)
    assert torch.allclose(pooled[0], first, atol=1e-5)


@pytest.mark.parametrize("kind", ["disk", "memory"])
def test_cache_serves_the_second_epoch_without_decoding(tmp_path: Path, kind: str) -> None:
    root = write_tone_set(tmp_path / "tones", ["flam", "drag"], per_split=2)
    clips = open_dataset(root).clips("train")
    cache = DiskCache(tmp_path / "cache") if kind == "disk" else MemoryCache()
    dataset = ClipDataset(clips, sample_rate=16000, clip_samples=16000, train=False, cache=cache)
    first = [dataset[i]["wave"] for i in range(len(clips))]
    for clip in clips:
        clip.path.unlink()
    second = [dataset[i]["wave"] for i in range(len(clips))]
    for a, b in zip(first, second, strict=True):
        assert torch.allclose(a, b, atol=1e-3)


def run_check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sousa_train.cli", "data", "check", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_data_check_on_the_real_fixture(fixture_root: Path) -> None:
    result = run_check(fixture_root)
    assert result.returncode == 0, result.stdout
    assert "clips: 12" in result.stdout
    assert result.stdout.count("      4 clips") == 3
    assert "44100 Hz x 12" in result.stdout and "2 ch x 12" in result.stdout


def test_data_check_lists_every_problem_and_fails(tmp_path: Path) -> None:
    root, clips = corrupt_set(tmp_path)
    result = run_check(root)
    assert result.returncode == 1
    assert "missing audio files: 1" in result.stdout
    assert "unreadable audio files: 3" in result.stdout
    assert str(clips[2].path) in result.stdout and str(clips[0].path) in result.stdout
    assert run_check(tmp_path / "nowhere").returncode == 1
