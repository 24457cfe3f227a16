"""Joint training (``mix``): the batch sampler's promises, the real training loader over two
data sets, and a real run that trains on both and is judged on its own data set alone."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from sousa_train.config.manifest import load_manifest
from sousa_train.config.settings import experiment_from_dict
from sousa_train.data.datamodule import ClipDataModule
from sousa_train.data.mixing import Mix, MixedBatchSampler
from sousa_train.data.sources import open_experiment_data, open_mix_data
from sousa_train.rudiments import SLUGS
from sousa_train.rundir.layout import read_json
from sousa_train.rundir.scan import find_runs
from sousa_train.rundir.tail import iter_events
from tests.cli import sousa_train
from tests.conftest import FIXTURE, write_tone_set


def _epochs(sampler: MixedBatchSampler, count: int) -> list[list[list[int]]]:
    return [list(sampler) for _ in range(count)]


def test_an_epoch_is_every_own_clip_once_with_the_share_of_mix_clips() -> None:
    own, mix = 37, 50
    sampler = MixedBatchSampler(own, mix, batch_size=8, mix_per_batch=3, seed=0)
    (epoch,) = _epochs(sampler, 1)
    assert len(epoch) == len(sampler) == 8  # ceil(37 own clips / 5 a batch)
    own_seen = [i for batch in epoch for i in batch if i < own]
    assert sorted(own_seen) == list(range(own))
    assert all(own <= i < own + mix for batch in epoch for i in batch if i >= own)
    mix_counts = [sum(i >= own for i in batch) for batch in epoch]
    assert mix_counts[:-1] == [3] * 7 and [len(b) for b in epoch[:-1]] == [8] * 7
    # the last batch holds the 2 own clips left, and the share of them: round(2 * 3 / 5)
    assert (len(epoch[-1]) - mix_counts[-1], mix_counts[-1]) == (2, 1)


def test_mix_clips_repeat_only_once_all_have_been_drawn() -> None:
    """10 own clips, 2 a batch with 2 mix clips: 10 of the 23 mix clips an epoch, in an order
    that carries on across epochs rather than starting again each one."""
    own, mix = 10, 23
    sampler = MixedBatchSampler(own, mix, batch_size=4, mix_per_batch=2, seed=3)
    drawn = [i - own for epoch in _epochs(sampler, 5) for batch in epoch for i in batch if i >= own]
    assert len(drawn) == 50
    for start in (0, 23):
        assert sorted(drawn[start : start + 23]) == list(range(mix))
    assert len(set(drawn[46:])) == 4


def test_the_batches_are_the_same_for_a_seed_and_new_each_epoch() -> None:
    def make(seed: int) -> MixedBatchSampler:
        return MixedBatchSampler(12, 9, batch_size=6, mix_per_batch=2, seed=seed)

    first = _epochs(make(7), 3)
    assert first == _epochs(make(7), 3)
    assert first != _epochs(make(8), 3)
    assert first[0] != first[1]  # a new order every epoch


def test_a_batch_needs_room_for_both_sets() -> None:
    for mix_per_batch in (0, 4):
        with pytest.raises(ValueError, match="no room"):
            MixedBatchSampler(5, 5, batch_size=4, mix_per_batch=mix_per_batch, seed=0)


# The real SOUSA sample (4 rudiments, 4 clips a split) joined by a tone set of 3 other
# rudiments (2 clips a split), so a clip's label says which set it came from.
TONES = [slug for slug in SLUGS if slug not in {p.name for p in (FIXTURE / "audio").iterdir()}][:3]
MANIFEST = f"""
[datasets.real]
path = '{FIXTURE}'
[datasets.tones]
path = "tones"

[experiments.joint]
model = "efficientat"
variant = "tiny"
strategy = "from_scratch"
data = "real"
mix = {{ data = "tones", share = 0.5 }}
sample_rate = 16000
train = {{ max_epochs = 1, early_stop_patience = 0, log_every_steps = 1 }}
loader = {{ batch_size = 4, num_workers = 0, clip_seconds = 2.0, eval_hop_seconds = 1.0 }}
augment = {{ speed = 0.2 }}
"""


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("joint")
    write_tone_set(root / "tones", TONES, per_split=2, rate=16000)
    path = root / "experiments.toml"
    path.write_text(MANIFEST)
    return path


def test_the_training_loader_mixes_both_sets_at_the_share(manifest: Path) -> None:
    cfg = load_manifest(manifest).get("joint", ["loader.cache=memory"])
    assert cfg.mix is not None
    own, extra = open_experiment_data(cfg), open_mix_data(cfg.mix)
    data = ClipDataModule(
        own, cfg.loader, 16000, cfg.augment.speed, Mix(extra, cfg.mix, cfg.train.seed)
    )
    loader = data.train_dataloader()
    own_set, mix_set = loader.dataset.datasets
    assert own_set.log_speed == mix_set.log_speed > 0  # augmentation reaches both
    mix_labels = {SLUGS.index(slug) for slug in TONES}
    mix_drawn = []
    for _ in range(3):
        epoch = list(loader)
        assert len(epoch) == len(loader) == 2  # 4 own clips, 2 a batch
        own_seen = []
        for batch in epoch:
            pairs = list(zip(batch["label"].tolist(), batch["index"].tolist(), strict=True))
            mixed = [(label, i) for label, i in pairs if label in mix_labels]
            assert len(pairs) == 4 and len(mixed) == 2 and batch["wave"].shape[0] == 4
            for label, i in mixed:  # an index is the clip's place in its own set
                assert mix_set.clips[i].label == label
                mix_drawn.append(i)
            own_seen += [i for label, i in pairs if label not in mix_labels]
        assert sorted(own_seen) == list(range(len(own.clips("train"))))
    # 6 tone clips, 4 drawn an epoch: all 6 before any is drawn twice
    assert sorted(mix_drawn[:6]) == sorted(mix_drawn[6:]) == list(range(6))
    assert data.loader_for("val", train=False).dataset.clips == own.clips("val")


def test_a_joint_run_trains_on_both_and_is_judged_on_its_own_data(
    manifest: Path, tmp_path: Path
) -> None:
    runs = tmp_path / "runs"
    done = sousa_train(
        *("run", "joint", "--manifest", str(manifest), "--runs-dir", str(runs)),
        env={"SOUSA_CACHE_DIR": str(tmp_path / "cache")},
        cwd=manifest.parent,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (run,) = find_runs(runs, "joint")
    config = read_json(run.config)
    assert config["clips"] == {"train": 4, "val": 4, "test": 4}
    assert config["mix_data"]["train_clips"] == 2 * len(TONES)
    assert config["mix_data"]["root"] == str(manifest.parent / "tones")
    saved = experiment_from_dict(config["experiment"])
    assert saved == load_manifest(manifest).experiments["joint"]  # what eval and resume read
    assert "4 train (+6 mix from tones at share 0.5) / 4 val / 4 test clips" in run.log.read_text()
    events = list(iter_events(run.events))
    # one epoch is 2 steps of 2 own + 2 tone clips; without the mix it would be 1 of 4
    (end,) = [e for e in events if e["kind"] == "end"]
    assert end["step"] == 2
    tested = {e["split"]: e["num_clips"] for e in events if e["kind"] == "eval"}
    assert tested == {"val": 4, "test": 4}
    scored = pq.read_table(run.eval_dir("test") / "predictions.parquet").column("sample_id")
    samples = pq.read_table(FIXTURE / "labels" / "samples.parquet").to_pylist()
    test_profiles = json.loads((FIXTURE / "splits.json").read_text())["test_profile_ids"]
    expected = {r["sample_id"] for r in samples if r["profile_id"] in test_profiles}
    assert set(scored.to_pylist()) == expected and len(scored) == 4
