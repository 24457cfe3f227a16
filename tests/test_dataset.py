"""The clip Dataset in real DataLoaders: bad files skipped and reported, caches reused."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from sousa_train.config.settings import LoaderSettings
from sousa_train.data import audio
from sousa_train.data.cache import DiskCache, MemoryCache, NoCache, make_cache
from sousa_train.data.clips import Clip
from sousa_train.data.datamodule import ClipDataModule
from sousa_train.data.dataset import ClipDataset, collate_clips, pool_windows
from sousa_train.data.reader import open_dataset
from tests.conftest import damage_audio, write_tone_set

RATE = 16000


def _clips(tmp_path: Path, per_split: int = 3) -> list[Clip]:
    root = write_tone_set(tmp_path / "tones", ["flam", "drag"], per_split=per_split)
    return open_dataset(root).clips("train")


def _epoch(dataset: ClipDataset, workers: int, batch_size: int = 4) -> list[dict]:
    loader = DataLoader(
        dataset, batch_size=batch_size, num_workers=workers, collate_fn=collate_clips
    )
    return list(loader)


@pytest.mark.parametrize("workers", [0, 2])
@pytest.mark.parametrize("train", [True, False])
def test_bad_files_are_skipped_and_reported_never_fatal(
    tmp_path: Path, workers: int, train: bool
) -> None:
    clips = _clips(tmp_path, per_split=4)  # 8 train clips, 4 of them broken
    broken = damage_audio([c.path for c in clips])
    dataset = ClipDataset(
        clips, sample_rate=RATE, clip_samples=RATE // 2, train=train, eval_hop=RATE // 4
    )
    batches = _epoch(dataset, workers)
    skipped = [p for b in batches for p in b["skipped"]]
    assert sorted(skipped) == sorted(str(p) for p in broken.values())
    seen = torch.cat([b["index"] for b in batches]).tolist()
    assert sorted(seen) == [4, 5, 6, 7]
    for batch in batches:
        n = batch["label"].numel()
        assert batch["wave"].shape[1] == RATE // 2
        assert batch["label"].tolist() == [clips[i].label for i in batch["index"].tolist()]
        if train:
            assert batch["wave"].shape[0] == n and torch.equal(batch["owner"], torch.arange(n))
        else:  # 1 s clips, 0.5 s windows every 0.25 s: 3 windows each
            assert batch["wave"].shape[0] == 3 * n
            assert batch["owner"].tolist() == [i for i in range(n) for _ in range(3)]


def test_an_all_bad_batch_is_empty_not_an_error(tmp_path: Path) -> None:
    clips = _clips(tmp_path, per_split=2)
    damage_audio([c.path for c in clips])
    dataset = ClipDataset(clips[:4], sample_rate=RATE, clip_samples=8000, train=True)
    (batch,) = _epoch(dataset, workers=0)
    assert batch["wave"].shape == (0, 8000) and batch["label"].numel() == 0
    assert batch["owner"].numel() == 0 and batch["index"].numel() == 0
    assert len(batch["skipped"]) == 4


def test_each_bad_path_is_logged_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    clips = _clips(tmp_path, per_split=2)
    broken = damage_audio([c.path for c in clips])
    dataset = ClipDataset(clips, sample_rate=RATE, clip_samples=8000, train=True)
    with caplog.at_level(logging.WARNING, logger="sousa_train.data.dataset"):
        for _ in range(3):
            _epoch(dataset, workers=0)
    logged = [r.getMessage() for r in caplog.records]
    assert len(logged) == 4
    assert all(sum(str(p) in m for m in logged) == 1 for p in broken.values())


def test_train_crops_and_eval_windows_cover_the_real_clips(fixture_root: Path) -> None:
    clips = open_dataset(fixture_root).clips("test")
    evals = ClipDataset(
        clips, sample_rate=RATE, clip_samples=2 * RATE, train=False, cache=MemoryCache()
    )
    batch = collate_clips([evals[i] for i in range(len(clips))])
    for i, clip in enumerate(clips):
        windows = batch["wave"][batch["owner"] == i]
        whole = evals.waveform(clip)
        assert torch.equal(windows[-1], whole[-2 * RATE :])  # judged up to the clip's end
        assert windows.shape[0] == 1 + -(-(whole.numel() - 2 * RATE) // RATE)
    train = ClipDataset(clips, sample_rate=RATE, clip_samples=2 * RATE, train=True)
    torch.manual_seed(0)
    first = [train[i]["wave"] for i in range(len(clips))]
    torch.manual_seed(0)
    assert all(torch.equal(a, train[i]["wave"]) for i, a in enumerate(first))
    assert all(w.shape == (2 * RATE,) for w in first)


def test_speed_perturbs_training_crops_only(fixture_root: Path) -> None:
    """``augment.speed`` reaches the training split's crops (each a different speed, still
    one window long) and never the windows a model is judged on."""
    loader = LoaderSettings(num_workers=0, clip_seconds=2.0, cache="memory")
    module = ClipDataModule(open_dataset(fixture_root), loader, RATE, speed=0.4)
    train, evals = module.make_dataset("test", train=True), module.make_dataset("val", train=False)
    plain = ClipDataset(train.clips, sample_rate=RATE, clip_samples=2 * RATE, train=True)
    torch.manual_seed(0)
    sped = [train[i]["wave"] for i in range(len(train))]
    torch.manual_seed(0)
    assert all(w.shape == (2 * RATE,) for w in sped)
    assert not any(torch.equal(w, plain[i]["wave"]) for i, w in enumerate(sped))
    assert evals.log_speed == 0 and train.log_speed == pytest.approx(np.log(1.4))


def test_eval_speeds_pool_the_windows_of_the_clip_played_at_each_speed(fixture_root: Path) -> None:
    clips = open_dataset(fixture_root).clips("test")
    args = {"sample_rate": RATE, "clip_samples": RATE, "train": False, "eval_hop": RATE // 2}
    plain = ClipDataset(clips, **args)
    tta = ClipDataset(clips, **args, eval_speeds=(0.8, 1.0, 1.25))
    for i, clip in enumerate(clips):
        wave = plain.waveform(clip)
        slow, fast = (audio.play_at(wave, s) for s in (0.8, 1.25))
        assert abs(slow.shape[0] - wave.shape[0] / 0.8) <= 1  # played slower: longer
        assert abs(fast.shape[0] - wave.shape[0] / 1.25) <= 1
        counts = [len(audio.window_starts(w.shape[0], RATE, RATE // 2)) for w in (slow, wave, fast)]
        windows = tta[i]["wave"]
        assert windows.shape == (sum(counts), RATE) and counts[0] > counts[1] > counts[2]
        assert torch.equal(windows[counts[0] : counts[0] + counts[1]], plain[i]["wave"])
    batch = collate_clips([tta[0], tta[1]])
    assert batch["owner"].tolist().count(0) == tta[0]["wave"].shape[0]  # pooled as one clip
    speeds = (0.8, 1.0, 1.25)
    loader = LoaderSettings(num_workers=0, clip_seconds=1.0, cache="memory", eval_speeds=speeds)
    module = ClipDataModule(open_dataset(fixture_root), loader, RATE)
    assert module.loader_for("test", train=False).dataset.eval_speeds == speeds
    assert module.val_dataloader().dataset.eval_speeds == (1.0,)  # each epoch's checkpoint pick


@pytest.mark.parametrize("workers", [0, 2])
def test_disk_cache_serves_later_epochs_and_runs_without_flac(tmp_path: Path, workers: int) -> None:
    clips = _clips(tmp_path)
    folder = tmp_path / "cache"
    cache = make_cache("disk", fingerprint="abc123", sample_rate=RATE, cache_dir=folder)
    dataset = ClipDataset(clips, sample_rate=RATE, clip_samples=RATE // 2, train=False, cache=cache)
    first = _epoch(dataset, workers)
    files = sorted((folder / "waves" / f"abc123-{RATE}").iterdir())
    assert len(files) == len(clips) and all(f.suffix == ".npy" for f in files)  # no temp files
    assert np.load(files[0]).dtype == np.float16
    for clip in clips:
        clip.path.unlink()
    for again in (
        dataset,
        ClipDataset(
            clips,
            sample_rate=RATE,
            clip_samples=RATE // 2,
            train=False,
            cache=DiskCache(files[0].parent),
        ),
    ):
        second = _epoch(again, workers)  # an epoch (and a new run) with no FLAC to read
        assert all(not b["skipped"] for b in second)
        for a, b in zip(first, second, strict=True):
            assert torch.equal(a["index"], b["index"]) and torch.equal(a["wave"], b["wave"])


def test_memory_cache_and_float16_precision(tmp_path: Path) -> None:
    clips = _clips(tmp_path, per_split=1)
    plain = ClipDataset(clips, sample_rate=RATE, clip_samples=RATE, train=False)
    exact = [plain.waveform(c) for c in clips]
    cached = ClipDataset(
        clips, sample_rate=RATE, clip_samples=RATE, train=False, cache=MemoryCache()
    )
    first = [cached.waveform(c) for c in clips]
    for clip in clips:
        clip.path.unlink()
    for clip, wave, served in zip(clips, exact, first, strict=True):
        again = cached.waveform(clip)
        assert torch.equal(again, served) and again.dtype == torch.float32  # every epoch alike
        assert (again - wave).abs().max() <= wave.abs().max() * 2**-11


def test_cache_kinds_and_a_stale_cache_file(tmp_path: Path) -> None:
    assert isinstance(
        make_cache("none", fingerprint="f", sample_rate=RATE, cache_dir=tmp_path), NoCache
    )
    assert isinstance(
        make_cache("memory", fingerprint="f", sample_rate=RATE, cache_dir=tmp_path), MemoryCache
    )
    with pytest.raises(ValueError, match="unknown waveform cache 'ram'"):
        make_cache("ram", fingerprint="f", sample_rate=RATE, cache_dir=tmp_path)  # type: ignore[arg-type]
    clip = _clips(tmp_path, per_split=1)[0]
    cache = DiskCache(tmp_path / "waves")
    cache.path(clip).parent.mkdir(parents=True)
    cache.path(clip).write_bytes(b"\x93NUMPY garbage")  # e.g. a disk that filled up
    assert cache.get(clip) is None
    dataset = ClipDataset([clip], sample_rate=RATE, clip_samples=RATE, train=False, cache=cache)
    assert dataset[0]["wave"].shape == (1, RATE)
    assert cache.get(clip) is not None  # rewritten whole


def test_an_unwritable_cache_slows_training_and_a_removed_folder_is_made_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first, second = _clips(tmp_path, per_split=1)[:2]
    wave = torch.linspace(-1, 1, RATE)
    cache = DiskCache(tmp_path / "waves")
    assert torch.equal(cache.put(first, wave), wave.half().float())
    shutil.rmtree(cache.folder)  # e.g. a user clearing the cache while a run trains
    cache.put(second, wave)
    assert [p.name for p in cache.folder.iterdir()] == [cache.path(second).name]  # no temp file
    assert torch.equal(cache.get(second), wave.half().float())
    (tmp_path / "a-file").write_bytes(b"")
    blocked = DiskCache(tmp_path / "a-file" / "waves")  # no folder can be made under a file
    with caplog.at_level(logging.WARNING, logger="sousa_train.data.cache"):
        for clip in (first, second):
            assert torch.equal(blocked.put(clip, wave), wave.half().float())
    assert [r.getMessage().split(":")[0] for r in caplog.records] == ["waveform cache disabled"]
    assert blocked.get(first) is None


def test_pool_windows_averages_log_probabilities_per_clip() -> None:
    owner = torch.tensor([0, 0, 0, 1, 2, 2])
    logits = torch.randn(6, 40)
    pooled = pool_windows(logits, owner, 3)
    assert pooled.shape == (3, 40)
    logp = logits.log_softmax(-1)
    for i in range(3):
        assert torch.allclose(pooled[i], logp[owner == i].mean(0), atol=1e-6)
    confident = torch.full((3, 40), 0.0)
    confident[0, 7] = 30.0  # one window hears the rudiment, two are unsure
    assert int(pool_windows(confident, torch.zeros(3, dtype=torch.long), 1).argmax()) == 7
