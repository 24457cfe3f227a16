"""The reader on the real SOUSA sample, on the older metadata.csv layout, and on broken labels."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
import soundfile as sf

from sousa_train.config.settings import SelectSettings
from sousa_train.data.clips import SPLITS
from sousa_train.data.reader import DatasetError, open_dataset
from sousa_train.rudiments import SLUGS
from tests.conftest import write_tone_set

FIXTURE_SLUGS = {"flam_accent", "single_paradiddle", "five_stroke_roll", "single_ratamacue"}


def _edit_labels(root: Path, edit: Callable[[pa.Table], pa.Table]) -> None:
    path = root / "labels" / "samples.parquet"
    pq.write_table(edit(pq.read_table(path)), path)


def _set_column(table: pa.Table, name: str, values: pa.Array) -> pa.Table:
    return table.set_column(table.column_names.index(name), name, values)


def _edit_splits(root: Path, **changes: object) -> None:
    path = root / "splits.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


def test_real_fixture_loads_unchanged(fixture_root: Path) -> None:
    data = open_dataset(fixture_root)
    assert data.layout == "sousa" and data.root == fixture_root
    assert [len(data.clips(s)) for s in SPLITS] == [4, 4, 4] and len(data.all_clips()) == 12
    for split in SPLITS:
        assert data.rudiments(split) == FIXTURE_SLUGS
        assert len({c.profile_id for c in data.clips(split)}) == 1  # one player per split
    assert len({c.profile_id for c in data.all_clips()}) == 3
    clip = next(c for c in data.clips("train") if c.slug == "flam_accent")
    assert clip.label == SLUGS.index("flam_accent") == 20
    assert clip.audio_path == f"audio/flam_accent/{clip.sample_id}.flac"
    assert clip.path == fixture_root / clip.audio_path and clip.path.is_file()
    assert clip.split == "train" and clip.soundfont == "FluidR3_GM"
    assert isinstance(clip.tempo_bpm, float) and clip.skill_tier in {"beginner", "advanced"}
    assert clip.augmentation_preset and clip.duration_sec and 2.0 < clip.duration_sec < 5.0
    assert all(c.path.is_file() for c in data.all_clips())
    assert any("36 of the 40 rudiments have no clips" in p for p in data.problems)
    data.require_trainable()  # 4 of 40 rudiments is fine: each split has all 4


def test_fingerprint_is_stable_and_follows_the_labels(fixture_copy: Path) -> None:
    first = open_dataset(fixture_copy).fingerprint
    assert first == open_dataset(fixture_copy).fingerprint and 8 <= len(first) <= 16
    assert first == open_dataset(fixture_copy, SelectSettings(tempo_min=130)).fingerprint
    labels = fixture_copy / "labels" / "samples.parquet"
    stat = labels.stat()
    os.utime(labels, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert open_dataset(fixture_copy).fingerprint != first


def test_filters_select_clips(fixture_root: Path) -> None:
    fast = open_dataset(fixture_root, SelectSettings(tempo_min=130))
    assert len(fast.all_clips()) == 8 and all(c.tempo_bpm >= 130 for c in fast.all_clips())
    slow = open_dataset(fixture_root, SelectSettings(tempo_max=130))
    assert len(slow.all_clips()) == 4 and len({c.profile_id for c in slow.all_clips()}) == 1
    gym = open_dataset(fixture_root, SelectSettings(augmentation_presets=("gym",)))
    assert {c.augmentation_preset for c in gym.all_clips()} == {"gym"}
    tier = open_dataset(fixture_root, SelectSettings(skill_tiers=("beginner",)))
    assert {c.skill_tier for c in tier.all_clips()} == {"beginner"}
    fonts = open_dataset(fixture_root, SelectSettings(soundfonts=("FluidR3_GM", "Nope")))
    assert len(fonts.all_clips()) == 12
    assert any("'Nope' match no clip" in p and "FluidR3_GM" in p for p in fonts.problems)
    with pytest.raises(DatasetError, match="leaves no clips"):
        open_dataset(fixture_root, SelectSettings(soundfonts=("Nope",)))


def test_budget_keeps_every_rudiment_and_is_deterministic(tmp_path: Path) -> None:
    root = write_tone_set(tmp_path / "tones", ["flam", "drag", "flam_tap"], per_split=5)

    def pick(seed: int) -> dict[str, list[str]]:
        data = open_dataset(root, SelectSettings(max_clips_per_split=4), seed=seed)
        for split in SPLITS:
            assert len(data.clips(split)) == 4
            assert data.rudiments(split) == {"flam", "drag", "flam_tap"}
        return {s: [c.sample_id for c in data.clips(s)] for s in SPLITS}

    assert pick(1) == pick(1)
    assert any(pick(seed) != pick(1) for seed in range(2, 6))
    everything = open_dataset(root, SelectSettings(max_clips_per_split=100))
    assert len(everything.all_clips()) == 45
    with pytest.raises(DatasetError, match="smaller than the 3 rudiments of the train split"):
        open_dataset(root, SelectSettings(max_clips_per_split=2))


def test_dashed_labels_and_the_alias(fixture_copy: Path) -> None:
    spellings = {
        "flam_accent": "flam-accent",
        "single_paradiddle": "Single-Paradiddle",
        "five_stroke_roll": "five_stroke_roll",
        "single_ratamacue": "single-ratamacue",
    }
    _edit_labels(
        fixture_copy,
        lambda t: _set_column(
            t,
            "rudiment_slug",
            pa.array([spellings[s] for s in t["rudiment_slug"].to_pylist()], pa.large_string()),
        ),
    )
    data = open_dataset(fixture_copy)
    assert data.rudiments() == FIXTURE_SLUGS
    assert all(c.path.is_file() for c in data.all_clips())  # audio_path still wins


def _write_csv(root: Path, rows: list[dict[str, object]]) -> None:
    (root / "audio").mkdir(parents=True, exist_ok=True)
    for row in rows:
        tone = 0.1 * np.sin(np.arange(800, dtype=np.float32))
        sf.write(root / "audio" / f"{row['sample_id']}.flac", tone, 8000)
    pacsv.write_csv(pa.Table.from_pylist(rows), root / "metadata.csv")


def test_metadata_csv_layout_with_flat_audio(tmp_path: Path) -> None:
    labels = [
        ("train", "flam-accent"),
        ("validation", "single_paradiddle_diddle"),
        ("valid", "paradiddle-diddle"),
        ("test", "Drag-Paradiddle-1"),
    ]
    rows = [
        {"sample_id": f"00{i}", "rudiment_slug": label, "split": split, "tempo_bpm": 90 + i}
        for i, (split, label) in enumerate(labels)
    ]
    _write_csv(tmp_path, rows)
    data = open_dataset(tmp_path)
    assert data.layout == "metadata_csv"
    assert [(c.sample_id, c.split, c.slug) for c in data.all_clips()] == [
        ("000", "train", "flam_accent"),
        ("001", "val", "paradiddle_diddle"),
        ("002", "val", "paradiddle_diddle"),
        ("003", "test", "drag_paradiddle_1"),
    ]
    assert all(c.path == tmp_path / "audio" / f"{c.sample_id}.flac" for c in data.all_clips())
    assert all(c.path.is_file() for c in data.all_clips())
    assert data.clips("test")[0].tempo_bpm == 93.0


def test_missing_audio_path_falls_back_to_nested_then_flat(fixture_copy: Path) -> None:
    _edit_labels(fixture_copy, lambda t: _set_column(t, "audio_path", pa.nulls(12)))
    data = open_dataset(fixture_copy)
    assert all(c.audio_path == f"audio/{c.slug}/{c.sample_id}.flac" for c in data.all_clips())
    clip = data.clips("test")[0]
    clip.path.rename(fixture_copy / "audio" / clip.path.name)
    moved = next(c for c in open_dataset(fixture_copy).all_clips() if c.sample_id == clip.sample_id)
    assert moved.audio_path == f"audio/{clip.sample_id}.flac" and moved.path.is_file()


def test_clips_of_profiles_in_no_split_are_left_out_with_a_note(fixture_copy: Path) -> None:
    val_profile = open_dataset(fixture_copy).clips("val")[0].profile_id
    _edit_splits(fixture_copy, val_profile_ids=["someone-else"])
    data = open_dataset(fixture_copy)
    assert [len(data.clips(s)) for s in SPLITS] == [4, 0, 4]
    assert any(p.startswith("4 clip(s)") and val_profile in p for p in data.problems)
    with pytest.raises(DatasetError, match="the val split has no clips"):
        data.require_trainable()


def test_a_split_missing_a_rudiment_is_not_trainable(tmp_path: Path) -> None:
    root = write_tone_set(tmp_path / "tones", ["flam", "drag"], per_split=1)
    _edit_labels(
        root, lambda t: t.filter(pa.array([r != "val_drag_0" for r in t["sample_id"].to_pylist()]))
    )
    data = open_dataset(root)
    with pytest.raises(DatasetError, match=r"the val split lacks 1 rudiment.*: drag"):
        data.require_trainable()


def _labels(root: Path) -> Path:
    return root / "labels" / "samples.parquet"


BROKEN: list[tuple[str, Callable[[Path], object], Callable[[Path], Path], str]] = [
    (
        "no label file",
        lambda r: _labels(r).unlink(),
        lambda r: r,
        "neither labels/samples.parquet, audio/*.parquet (the Hub's layout) nor metadata.csv",
    ),
    (
        "no splits.json",
        lambda r: (r / "splits.json").unlink(),
        lambda r: r / "splits.json",
        "missing",
    ),
    (
        "splits.json lacks a key",
        lambda r: (r / "splits.json").write_text('{"train_profile_ids": [], "stats": {}}'),
        lambda r: r / "splits.json",
        "'val_profile_ids'",
    ),
    (
        "damaged parquet",
        lambda r: _labels(r).write_bytes(b"junk"),
        _labels,
        "cannot be read",
    ),
    (
        "missing column",
        lambda r: _edit_labels(r, lambda t: t.drop(["rudiment_slug"])),
        _labels,
        "missing required column(s) rudiment_slug",
    ),
    (
        "ill-typed column",
        lambda r: _edit_labels(
            r, lambda t: _set_column(t, "tempo_bpm", pa.array(["fast"] * 12, pa.large_string()))
        ),
        _labels,
        "tempo_bpm is large_string, expected numbers",
    ),
    (
        "null in a required column",
        lambda r: _edit_labels(
            r, lambda t: _set_column(t, "profile_id", pa.nulls(12, pa.string()))
        ),
        _labels,
        "required column profile_id has 12 empty value(s)",
    ),
    (
        "unknown rudiment",
        lambda r: _edit_labels(
            r,
            lambda t: _set_column(
                t, "rudiment_slug", pa.array(["cowbell"] * 11 + ["flam"], pa.large_string())
            ),
        ),
        _labels,
        "'cowbell' is not one of the 40 PAS rudiments (11 clip(s))",
    ),
    (
        "duplicate sample ids",
        lambda r: _edit_labels(r, lambda t: pa.concat_tables([t, t.slice(0, 1)])),
        _labels,
        "appear more than once",
    ),
    (
        "a profile in two splits",
        lambda r: _edit_splits(
            r, val_profile_ids=json.loads((r / "splits.json").read_text())["train_profile_ids"]
        ),
        lambda r: r / "splits.json",
        "in both train and val",
    ),
]


@pytest.mark.parametrize(
    ("damage", "where", "needle"), [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN]
)
def test_broken_labels_are_one_clear_error_naming_the_file(
    fixture_copy: Path,
    damage: Callable[[Path], object],
    where: Callable[[Path], Path],
    needle: str,
) -> None:
    damage(fixture_copy)
    with pytest.raises(DatasetError) as info:
        open_dataset(fixture_copy)
    message = str(info.value)
    assert message.startswith(f"{where(fixture_copy)}:") and needle in message
    assert "\n" not in message


def test_unknown_label_lists_valid_slugs(fixture_copy: Path) -> None:
    _edit_labels(
        fixture_copy,
        lambda t: _set_column(t, "rudiment_slug", pa.array(["cowbell"] * 12, pa.large_string())),
    )
    with pytest.raises(DatasetError, match=r"such as single_stroke_roll, single_paradiddle"):
        open_dataset(fixture_copy)


def test_missing_root_and_bad_csv_splits(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"nowhere: data set folder not found"):
        open_dataset(tmp_path / "nowhere")
    _write_csv(tmp_path, [{"sample_id": "a", "rudiment_slug": "flam", "split": "holdout"}])
    with pytest.raises(DatasetError, match=r"metadata\.csv: 1 row\(s\) have a split.*'holdout'"):
        open_dataset(tmp_path)
    pacsv.write_csv(
        pa.Table.from_pylist([{"sample_id": "a", "split": "train"}]), tmp_path / "metadata.csv"
    )
    with pytest.raises(
        DatasetError, match=r"metadata\.csv: missing required column\(s\) rudiment_slug"
    ):
        open_dataset(tmp_path)
