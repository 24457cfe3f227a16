"""The built-in demo data set: real files in SOUSA's layout, deterministic, fair and audible.

"Fair": loudness, timbre, length and tempo must not give a rudiment away, so a classifier on
such global features is near chance. "Audible": the rhythm cues the rudiments are defined by
(grace notes, accents, sticking) are in the stroke table and in the audio where it says.
"""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import soundfile as sf

from sousa_train.data.demo.patterns import PATTERNS
from sousa_train.data.demo.render import (
    CYCLES,
    SILENCE_SEC,
    TIERS,
    DemoDataError,
    draw_profile,
    generate_demo_dataset,
    perform,
)
from sousa_train.data.reader import open_dataset
from sousa_train.rudiments import NUM_CLASSES, SLUGS
from tests.cli import sousa_train

REPO = Path(__file__).resolve().parents[1]
PROFILES = 10
CHANCE = 1 / NUM_CLASSES


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Ten players x 40 rudiments, rendered once for the module."""
    root = tmp_path_factory.mktemp("demo") / "set"
    summary = generate_demo_dataset(root, clips_per_rudiment=PROFILES, seed=7)
    assert summary.rendered and summary.clips == PROFILES * NUM_CLASSES
    return root


@pytest.fixture(scope="module")
def samples(demo: Path) -> list[dict]:
    return pq.read_table(demo / "labels" / "samples.parquet").to_pylist()


@pytest.fixture(scope="module")
def strokes(demo: Path) -> dict[str, list[dict]]:
    by_clip: dict[str, list[dict]] = {}
    for row in pq.read_table(demo / "labels" / "strokes.parquet").to_pylist():
        by_clip.setdefault(row["sample_id"], []).append(row)
    return by_clip


def test_layout_matches_sousa(demo: Path, samples: list[dict], fixture_root: Path) -> None:
    real = pq.read_table(fixture_root / "labels" / "samples.parquet").schema
    ours = pq.read_table(demo / "labels" / "samples.parquet").schema
    for name in (
        "sample_id", "profile_id", "rudiment_slug", "tempo_bpm", "duration_sec", "num_cycles",
        "skill_tier", "skill_tier_binary", "dominant_hand", "audio_path", "num_strokes",
        "soundfont", "augmentation_preset",
    ):  # fmt: skip
        assert ours.field(name).type == real.field(name).type, name
    assert ours.field("tempo_bpm").type == pa.int64()

    index = json.loads((demo / "index.json").read_text())
    assert index["num_samples"] == len(samples) == PROFILES * NUM_CLASSES
    assert index["sample_ids"] == [r["sample_id"] for r in samples]
    assert len(set(index["sample_ids"])) == len(samples)
    assert index["generator"]["seed"] == 7 and index["generator"]["sample_rate"] == 16000

    for row in samples:
        assert row["audio_path"] == f"audio/{row['rudiment_slug']}/{row['sample_id']}.flac"
        assert row["skill_tier"] in ("beginner", "intermediate", "advanced", "professional")
        assert row["skill_tier_binary"] in ("novice", "expert")
        assert row["dominant_hand"] in ("right", "left")
        assert row["augmentation_preset"] in (
            "clean_studio", "practice_room", "gym", "garage", "marching_field",
        )  # fmt: skip
    for row in samples[::37]:
        info = sf.info(demo / row["audio_path"])
        assert (info.format, info.channels, info.samplerate) == ("FLAC", 1, 16000)
        # As in SOUSA, the file runs half a second past the performance.
        assert info.frames == round((row["duration_sec"] + SILENCE_SEC) * 16000)
        wave, _ = sf.read(demo / row["audio_path"])
        assert 0.05 < np.abs(wave).max() < 0.95
    assert not list(demo.parent.glob(".*tmp-*")), "the render folder was left behind"


def test_splits_are_by_profile_and_complete(demo: Path, samples: list[dict]) -> None:
    splits = json.loads((demo / "splits.json").read_text())
    ids = {s: set(splits[f"{s}_profile_ids"]) for s in ("train", "val", "test")}
    assert [len(ids[s]) for s in ("train", "val", "test")] == [6, 2, 2]
    assert not (ids["train"] & ids["val"] or ids["train"] & ids["test"] or ids["val"] & ids["test"])
    assert set().union(*ids.values()) == {r["profile_id"] for r in samples}
    for split, profiles in ids.items():
        slugs = [r["rudiment_slug"] for r in samples if r["profile_id"] in profiles]
        assert sorted(slugs) == sorted(SLUGS * len(profiles)), split

    dataset = open_dataset(demo)
    assert dataset.layout == "sousa" and not dataset.problems
    assert dataset.completeness_problems() == []
    assert len(dataset.all_clips()) == len(samples)


def _audio_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.glob("audio/*/*.flac"))}


def test_same_seed_same_bytes_other_seed_other_audio(tmp_path: Path) -> None:
    a = generate_demo_dataset(tmp_path / "a", clips_per_rudiment=3, seed=11)
    b = generate_demo_dataset(tmp_path / "b", clips_per_rudiment=3, seed=11)
    c = generate_demo_dataset(tmp_path / "c", clips_per_rudiment=3, seed=12)
    assert a.clips == b.clips == c.clips == 3 * NUM_CLASSES
    audio_a = _audio_bytes(a.root)
    assert len(audio_a) == a.clips
    assert audio_a == _audio_bytes(b.root)
    for name in ("samples.parquet", "strokes.parquet"):
        assert pq.read_table(a.root / "labels" / name).equals(
            pq.read_table(b.root / "labels" / name)
        )
    assert (a.root / "splits.json").read_text() == (b.root / "splits.json").read_text()
    audio_c = _audio_bytes(c.root)
    assert not set(audio_a.values()) & set(audio_c.values())


def test_complete_set_is_reused_and_other_folders_are_left_alone(tmp_path: Path) -> None:
    root = tmp_path / "demo"
    first = generate_demo_dataset(root, clips_per_rudiment=3, seed=1)
    stamp = (root / "index.json").stat().st_mtime_ns
    again = generate_demo_dataset(root, clips_per_rudiment=3, seed=1)
    assert not again.rendered and again.clips == first.clips
    assert (root / "index.json").stat().st_mtime_ns == stamp

    with pytest.raises(DemoDataError, match="seed=1"):
        generate_demo_dataset(root, clips_per_rudiment=3, seed=2)
    assert (root / "index.json").stat().st_mtime_ns == stamp

    user = tmp_path / "mine"
    user.mkdir()
    (user / "notes.txt").write_text("keep me")
    with pytest.raises(DemoDataError, match="not a complete demo data set"):
        generate_demo_dataset(user, clips_per_rudiment=3, seed=1)
    assert (user / "notes.txt").read_text() == "keep me"

    with pytest.raises(DemoDataError, match="not made by the demo generator"):
        (tmp_path / "real").mkdir()
        (tmp_path / "real" / "index.json").write_text('{"num_samples": 1}')
        generate_demo_dataset(tmp_path / "real", clips_per_rudiment=3, seed=1)


def test_interrupted_render_leaves_no_data_set(tmp_path: Path) -> None:
    stale = tmp_path / ".demo.tmp-999999999"
    stale.mkdir()

    def stop(done: int, total: int) -> None:
        if done == 10:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        generate_demo_dataset(tmp_path / "demo", clips_per_rudiment=3, progress=stop)
    assert sorted(os.listdir(tmp_path)) == []


def _global_features(root: Path, rows: list[dict]) -> np.ndarray:
    out = []
    for row in rows:
        wave, sr = sf.read(root / row["audio_path"])
        power = np.abs(np.fft.rfft(wave)) ** 2
        freq = np.fft.rfftfreq(len(wave), 1 / sr)
        out.append(
            [
                10 * np.log10(np.mean(wave**2)),
                20 * np.log10(np.abs(wave).max()),
                row["tempo_bpm"],
                np.sum(power * freq) / np.sum(power),
            ]
        )
    return np.array(out)


def _leave_one_profile_out(features: np.ndarray, labels: np.ndarray, groups: np.ndarray) -> float:
    """Nearest-centroid accuracy, each player's clips judged by centroids of the others'."""
    correct = 0
    for group in np.unique(groups):
        train, test = groups != group, groups == group
        mean, std = features[train].mean(0), features[train].std(0) + 1e-9
        z = (features - mean) / std
        centroids = np.stack([z[train][labels[train] == k].mean(0) for k in range(NUM_CLASSES)])
        dist = ((z[test][:, None, :] - centroids[None]) ** 2).sum(-1)
        correct += int((dist.argmin(1) == labels[test]).sum())
    return correct / len(labels)


def test_global_features_do_not_give_the_rudiment_away(demo: Path, samples: list[dict]) -> None:
    """Level, peak, tempo and brightness say nothing of the rudiment. Length does, with the
    tempo, as in SOUSA: a clip is four cycles, so its beats tell the cycle's length."""
    labels = np.array([SLUGS.index(r["rudiment_slug"]) for r in samples])
    groups = np.array([r["profile_id"] for r in samples])
    features = _global_features(demo, samples)
    accuracy = _leave_one_profile_out(features, labels, groups)
    assert accuracy < 3 * CHANCE, f"RMS/peak/tempo/centroid predict the rudiment: {accuracy}"

    # The same classifier does find a rhythm feature (strokes per beat), so a pass above is
    # the features' emptiness, not the classifier's.
    per_beat = np.array(
        [[r["num_strokes"] / (r["duration_sec"] * r["tempo_bpm"] / 60)] for r in samples]
    )
    assert _leave_one_profile_out(per_beat, labels, groups) > 4 * CHANCE


def _envelope_db(wave: np.ndarray, sr: int) -> np.ndarray:
    """Energy of the high band (first difference) in 1 ms frames, in dB: stick attacks."""
    hop = sr // 1000
    high = np.diff(wave, prepend=wave[0])
    frames = high[: len(high) // hop * hop].reshape(-1, hop)
    return 10 * np.log10(np.mean(frames**2, axis=1) + 1e-12)


def _rise(env: np.ndarray, t_ms: float) -> float:
    """How far the envelope jumps at ``t_ms``: the level just after against the one before."""
    i = round(t_ms)
    return float(env[i : i + 4].mean() - env[max(i - 6, 0) : i - 1].mean())


def test_stroke_table_follows_the_stickings(samples: list[dict], strokes: dict) -> None:
    def clips(slug: str) -> list[list[dict]]:
        """Each clip's strokes in the score's order: a player's slips may swap two."""
        return [
            sorted(strokes[r["sample_id"]], key=lambda s: s["intended_time_ms"])
            for r in samples
            if r["rudiment_slug"] == slug
        ]

    for slug, per_main in (("flam", 1), ("drag", 2), ("double_drag_tap", 4)):
        for clip in clips(slug):
            mains = [s for s in clip if not s["is_grace_note"]]
            graces = [s for s in clip if s["is_grace_note"]]
            if slug != "double_drag_tap":
                assert all(s["stroke_type"] == "accent" for s in mains)
            for prev, main in itertools.pairwise(mains):
                before = [
                    g
                    for g in graces
                    if prev["intended_time_ms"] < g["intended_time_ms"] < main["intended_time_ms"]
                ]
                expected = per_main if main["is_accent"] else 0
                assert len(before) == expected, (slug, main)
                assert all(g["hand"] != main["hand"] for g in before)
    for clip in clips("single_stroke_roll"):
        hands = "".join(s["hand"] for s in clip)
        assert not any(s["is_grace_note"] or s["is_accent"] for s in clip)
        assert "RR" not in hands and "LL" not in hands
    for clip in clips("double_stroke_open_roll"):
        hands = "".join(s["hand"] for s in clip)
        assert hands[:8] in ("RRLLRRLL", "LLRRLLRR")
        assert [s["diddle_position"] for s in clip[:4]] == [1, 2, 1, 2]
    for clip in clips("single_paradiddle"):
        mains = [s for s in clip if not s["is_grace_note"]]
        assert ["A" if s["is_accent"] else "t" for s in mains[:8]] == list("AtttAttt")
    for slug in SLUGS:
        for row, clip in zip(
            [r for r in samples if r["rudiment_slug"] == slug], clips(slug), strict=True
        ):
            assert row["num_strokes"] == sum(s["stroke_type"] != "bounce" for s in clip)
    assert sum(s["stroke_type"] == "bounce" for c in clips("multiple_bounce_roll") for s in c) > 0


def test_a_fast_beginner_slips_past_the_grid_as_sousas_beginners_do() -> None:
    """Slips are the player's whole timing spread, not cut at half a slot: at 180 bpm a
    beginner's sixteenths (42 ms apart) land about 50 ms off, so some swap places, as 9-19 %
    of neighbouring strokes do for SOUSA's fast beginners; a professional's never do."""
    pattern = PATTERNS["single_stroke_roll"]
    for tier, swaps in ((TIERS[0], (0.03, 0.4)), (TIERS[-1], (0.0, 0.0))):
        spread, swapped = [], []
        for seed in range(8):
            rng = np.random.default_rng(seed)
            profile = draw_profile(seed, "train", tier, rng)
            perf = perform(pattern, profile, 180, CYCLES * 60 / 180 * pattern.beats_per_cycle, rng)
            lead = perf.lead.astype(bool)
            spread.append(np.std((perf.times - perf.intended)[lead]) * 1000 / profile.timing_ms)
            played = perf.times[np.argsort(perf.intended, kind="stable")]
            swapped.append(float(np.mean(np.diff(played) < 0)))
        assert 0.8 < float(np.median(spread)) < 1.2, (tier.name, spread)
        assert swaps[0] <= float(np.mean(swapped)) <= swaps[1], (tier.name, swapped)


def test_accents_and_grace_notes_are_audible(
    demo: Path, samples: list[dict], strokes: dict
) -> None:
    """The audio has the cues where the stroke table puts them, and none where it puts none."""
    grace_rises, fake_rises, accent_gaps = [], [], []
    for row in samples:
        slug = row["rudiment_slug"]
        if slug not in ("flam", "flam_tap", "single_stroke_roll", "single_stroke_four"):
            continue
        wave, sr = sf.read(demo / row["audio_path"])
        env = _envelope_db(wave, sr)
        clip = strokes[row["sample_id"]]
        if slug in ("flam", "flam_tap"):
            grace_rises += [_rise(env, s["actual_time_ms"]) for s in clip if s["is_grace_note"]]
        elif slug == "single_stroke_roll":
            fake_rises += [_rise(env, s["actual_time_ms"] - 30) for s in clip[1:]]
        else:
            peak = {
                kind: np.median([env[round(s["actual_time_ms"]) :][:8].max() for s in clip if
                                 s["is_accent"] == kind])
                for kind in (True, False)
            }  # fmt: skip
            accent_gaps.append(peak[True] - peak[False])
    assert np.median(grace_rises) > 6.0, np.median(grace_rises)
    assert np.mean(np.array(grace_rises) > 3.0) > 0.75
    assert np.median(fake_rises) < 0.0 and np.percentile(fake_rises, 90) < 3.0
    assert 6.0 < np.median(accent_gaps) < 14.0, accent_gaps


def test_patterns_are_timed_as_sousa_times_them(fixture_root: Path) -> None:
    """Each real clip's main strokes fall on our pattern's slots, accents where ours are."""
    assert tuple(PATTERNS) == SLUGS
    labels = fixture_root / "labels"
    by_clip: dict[str, list[dict]] = {}
    for row in pq.read_table(labels / "strokes.parquet").to_pylist():
        by_clip.setdefault(row["sample_id"], []).append(row)
    for clip in pq.read_table(labels / "samples.parquet").to_pylist():
        pattern = PATTERNS[clip["rudiment_slug"]]
        strokes = sorted(by_clip[clip["sample_id"]], key=lambda s: s["index"])
        assert len(strokes) == clip["num_cycles"] * pattern.slots, clip["sample_id"]
        slot_ms = 60_000 * pattern.beats_per_cycle / (clip["tempo_bpm"] * pattern.slots)
        mains = [s for s in strokes if not s["is_grace_note"]][: len(pattern.notes)]
        assert [round(s["intended_time_ms"] / slot_ms, 3) for s in mains] == [
            n.slot for n in pattern.notes
        ], clip["sample_id"]
        assert [s["is_accent"] for s in mains] == [n.kind == "accent" for n in pattern.notes]


def test_cli_renders_and_reports_rate(tmp_path: Path) -> None:
    out = tmp_path / "cli"
    cmd = ("demo-data", "--out", str(out))
    done = sousa_train(*cmd, "--clips-per-rudiment", "3", "--seed", "4", cwd=REPO)
    assert done.returncode == 0, done.stderr
    last = done.stdout.strip().splitlines()[-1]
    assert f"wrote {3 * NUM_CLASSES} clips" in last and last.endswith("clips/s")
    assert float(last.split()[-2]) > 0
    assert len(list(out.glob("audio/*/*.flac"))) == 3 * NUM_CLASSES

    clash = sousa_train(*cmd, "--clips-per-rudiment", "3", "--seed", "5", cwd=REPO)
    assert clash.returncode == 1 and "seed=4" in clash.stderr


def test_presets_record_sousas_recording_chain(samples: list[dict], fixture_root: Path) -> None:
    """Each preset's room, microphone and compressor are what real SOUSA labels say for it."""
    chain = ("aug_room_type", "aug_mic_distance", "aug_mic_type", "aug_compression_ratio")
    real = pq.read_table(fixture_root / "labels" / "samples.parquet").to_pylist()
    real_chain = {r["augmentation_preset"]: tuple(r[k] for k in chain) for r in real}
    ours = {r["augmentation_preset"]: tuple(r[k] for k in chain) for r in samples}
    assert len(ours) == 5 and len(real_chain) >= 4
    for preset, figures in real_chain.items():
        assert ours[preset] == figures, preset
    noise = {}
    for row in samples:
        noise.setdefault(row["augmentation_preset"], []).append(row["aug_noise_level_db"])
    # Measured on real clips: the garage's noise floor is about 10 dB above the practice room's.
    assert max(noise["practice_room"]) < min(noise["garage"])


def test_demo_cache_is_keyed_by_generator_version(tmp_path: Path, monkeypatch) -> None:
    """A changed renderer must not reuse a set rendered by the old one under the same name."""
    from sousa_train.config.settings import DatasetSpec, DemoData
    from sousa_train.data.demo import render
    from sousa_train.data.sources import demo_root

    monkeypatch.setenv("SOUSA_CACHE_DIR", str(tmp_path))
    spec = DatasetSpec(name="demo", demo=DemoData(clips_per_rudiment=80))
    now = demo_root(spec)
    monkeypatch.setattr(render, "VERSION", render.VERSION + 1)
    assert demo_root(spec) != now and now.parent == tmp_path / "demo"
