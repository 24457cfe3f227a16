"""The built-in demo data set: the 40 rudiments played by synthetic players, in SOUSA's layout.

Each of ``clips_per_rudiment`` player profiles plays every rudiment once, and profiles are
split about 70/15/15 into train/val/test, so no player is in two splits and every rudiment is
in every split. What may give a class away is only the rhythm: tempo, clip length, lead-in,
drum, room, noise and output gain are drawn the same way for every rudiment.

Determinism: every profile and every clip has its own random stream, keyed by (seed, profile,
rudiment), so the same parameters give the same audio bytes whatever the order of work.

Only numpy, soundfile and pyarrow are imported, and FluidSynth once a sampled kit is played:
the trainer calls ``generate_demo_dataset`` on first use, and the console may too.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import soundfile as sf

from sousa_train.data.demo.patterns import PATTERNS, Pattern
from sousa_train.data.demo.soundfont import (
    SAMPLED_KITS,
    SampledBank,
    SampledDrum,
    SynthUnavailable,
)
from sousa_train.data.demo.synth import (
    KITS,
    PRESETS,
    Acoustics,
    Bank,
    Drum,
    Preset,
    Rooms,
    StrokeBank,
    Touch,
    render,
)

GENERATOR = "sousaphone-demo"
VERSION = 5
"""Bumped when the same parameters render other audio: 2 added SOUSA's mic distance per
preset, its reverb amounts, noise floors measured on real clips, and the practice pad kit;
3 times every clip as SOUSA's generator does (four whole cycles from the first stroke, grace
slots in the grid, tempos 60-180, full-size timing errors, its grace-note levels); 4 no longer
bounds a stroke's timing error by its grid slot, so fast beginners swap strokes as SOUSA's do;
5 adds seven soundfont kits, sampled snares played by FluidSynth, to the five synthesized."""

TEMPO_BPM = (60, 180)
"""SOUSA draws each player's tempo from this range, the same for every rudiment."""
CYCLES = 4
"""SOUSA's clips are four cycles of the rudiment from its first stroke."""
TAIL_SEC = (0.25, 0.5)
SILENCE_SEC = 0.5
"""After the last cycle the performance rings on for a moment (SOUSA's ``duration_sec`` is
about 0.35 s past four cycles), and the audio file runs half a second past that."""
LONGEST_SEC = 5 * CYCLES * 60 / TEMPO_BPM[0] + TAIL_SEC[1] + SILENCE_SEC
"""The longest clip: a five-beat cycle (drag paradiddle 2) at the slowest tempo."""
PEAK_DBFS = (-20.0, -1.0)
TIMING_SCALE = 1.0
"""SOUSA's per-stroke timing errors (50/28/14/7 ms by tier) at full size, in milliseconds
whatever the tempo and unbounded by the grid: real SOUSA beginners stray by 45-90 ms from
stroke to stroke, so at 170 bpm and up they swap 9-19 % of neighbouring strokes (measured on
the dev set's labelled strokes), and a model that never heard that cannot place them."""
MAX_GRACE_SPAN = 0.9
"""Grace notes start no earlier than this fraction of their slots before their main stroke,
so they always follow the stroke before."""
GRACE_DB = (-13.0, -9.0)
"""Grace notes against their main stroke: SOUSA plays them at about half its velocity."""
GRACE_SPACING = {1: (1.0,), 2: (1.5, 0.5), 4: (4.5, 3.5, 2.0, 1.0)}
"""Grace-note offsets before the main stroke, in units of the player's flam (one grace) or
drag (two, four) spacing: SOUSA's drag graces fall about 39 and 13 ms before the stroke."""
SPLIT_FRACTIONS = (0.70, 0.15, 0.15)


@dataclass(frozen=True)
class Tier:
    """A skill tier: the (mean, std) of each profile parameter, after SOUSA's archetypes.

    Timing error, left/right balance and lag, and flam spacing are SOUSA's figures; accent
    height, velocity spread, drag spacing and diddle drop are set to keep their order.
    """

    name: str
    binary: str
    abbrev: str
    timing_ms: tuple[float, float]
    drift: float
    velocity_db: float
    accent_db: tuple[float, float]
    balance: tuple[float, float]
    lag_ms: tuple[float, float]
    flam_ms: tuple[float, float]
    flam_var: float
    drag_ms: tuple[float, float]
    diddle_drop_db: float


TIERS: tuple[Tier, ...] = (
    Tier(
        name="beginner", binary="novice", abbrev="beg", timing_ms=(50, 10), drift=0.025,
        velocity_db=2.5, accent_db=(7.5, 1.0), balance=(0.72, 0.08), lag_ms=(8, 5),
        flam_ms=(50, 15), flam_var=0.30, drag_ms=(36, 6), diddle_drop_db=3.5,
    ),
    Tier(
        name="intermediate", binary="novice", abbrev="int", timing_ms=(28, 8), drift=0.012,
        velocity_db=1.8, accent_db=(8.5, 0.8), balance=(0.85, 0.05), lag_ms=(4, 3),
        flam_ms=(35, 8), flam_var=0.15, drag_ms=(32, 4), diddle_drop_db=2.5,
    ),
    Tier(
        name="advanced", binary="expert", abbrev="adv", timing_ms=(14, 4), drift=0.006,
        velocity_db=1.2, accent_db=(9.5, 0.6), balance=(0.94, 0.03), lag_ms=(1.5, 1.5),
        flam_ms=(28, 4), flam_var=0.08, drag_ms=(28, 3), diddle_drop_db=1.8,
    ),
    Tier(
        name="professional", binary="expert", abbrev="pro", timing_ms=(7, 2), drift=0.002,
        velocity_db=0.8, accent_db=(10.0, 0.5), balance=(0.98, 0.015), lag_ms=(0.5, 0.5),
        flam_ms=(25, 2), flam_var=0.04, drag_ms=(26, 2), diddle_drop_db=1.2,
    ),
)  # fmt: skip


class DemoDataError(ValueError):
    """The demo set cannot be written where asked; the message says why and what to do."""


@dataclass(frozen=True)
class DemoSummary:
    """What a call did: ``rendered`` is False when a complete identical set was already there."""

    clips: int
    seconds: float
    clips_per_second: float
    root: Path
    rendered: bool = True


@dataclass(frozen=True)
class Profile:
    """One synthetic player: skill, handedness, drum and touch, and the habits skill sets."""

    number: int
    profile_id: str
    split: str
    tier: Tier
    dominant_hand: str
    drum: Drum | SampledDrum
    touches: tuple[Touch, Touch]
    timing_ms: float
    accent_db: float
    other_hand_db: float
    other_hand_lag_ms: float
    flam_ms: float
    drag_ms: float
    grace_db: float
    buzz_gap_ms: float


@dataclass(frozen=True)
class Performance:
    """Every stroke of one clip, main and grace, in playing order."""

    times: np.ndarray
    intended: np.ndarray
    lead: np.ndarray
    level_db: np.ndarray
    stroke_type: list[str]
    diddle: np.ndarray
    buzz_count: np.ndarray
    num_cycles: int
    num_strokes: int


def _normal(rng: np.random.Generator, spec: tuple[float, float], lo: float, hi: float) -> float:
    return float(np.clip(rng.normal(*spec), lo, hi))


def _draw_drum(rng: np.random.Generator) -> Drum | SampledDrum:
    """One of the synthesized kits or of the soundfont's, all equally likely."""
    pick = int(rng.integers(len(KITS) + len(SAMPLED_KITS)))
    if pick < len(KITS):
        return Drum.draw(KITS[pick], rng)
    return SampledDrum(list(SAMPLED_KITS)[pick - len(KITS)])


def stroke_bank(profile: Profile, sample_rate: int, rng: np.random.Generator) -> Bank:
    """The player's drum, pre-rendered: synthesized, or the soundfont kit's snare."""
    if isinstance(profile.drum, SampledDrum):
        return SampledBank(profile.drum, sample_rate)
    return StrokeBank(profile.drum, profile.touches, sample_rate, rng)


def draw_profile(number: int, split: str, tier: Tier, rng: np.random.Generator) -> Profile:
    """A player; the two hands differ a little in level, timing and timbre, as real ones do."""
    lead_touch = Touch(
        brightness=float(rng.uniform(0.9, 1.1)), position=float(rng.uniform(0.1, 0.5))
    )
    sign = 1 if rng.random() < 0.5 else -1
    other_touch = Touch(
        brightness=lead_touch.brightness * float(rng.uniform(1.12, 1.35)) ** sign,
        position=float(np.clip(lead_touch.position + sign * rng.uniform(0.15, 0.35), 0.0, 1.0)),
    )
    return Profile(
        number=number,
        profile_id=str(uuid.UUID(bytes=rng.bytes(16), version=4)),
        split=split,
        tier=tier,
        dominant_hand="left" if rng.random() < 0.15 else "right",
        drum=_draw_drum(rng),
        touches=(lead_touch, other_touch),
        timing_ms=_normal(rng, tier.timing_ms, 3.0, 80.0) * TIMING_SCALE,
        accent_db=_normal(rng, tier.accent_db, 6.0, 12.0),
        other_hand_db=20 * math.log10(_normal(rng, tier.balance, 0.6, 1.0)),
        other_hand_lag_ms=_normal(rng, tier.lag_ms, -5.0, 20.0),
        flam_ms=_normal(rng, tier.flam_ms, 15.0, 70.0),
        drag_ms=_normal(rng, tier.drag_ms, 18.0, 50.0),
        grace_db=float(rng.uniform(*GRACE_DB)),
        buzz_gap_ms=float(rng.uniform(16.0, 24.0)),
    )


def perform(
    pattern: Pattern,
    profile: Profile,
    tempo_bpm: int,
    duration: float,
    rng: np.random.Generator,
) -> Performance:
    """:data:`CYCLES` cycles of the pattern from the first stroke, as this player plays it."""
    tier = profile.tier
    slot = 60.0 * pattern.beats_per_cycle / (tempo_bpm * pattern.slots)
    n_cycles = CYCLES
    notes = pattern.notes
    per = len(notes)
    cyc = np.repeat(np.arange(n_cycles), per)
    slots = np.tile([n.slot for n in notes], n_cycles)
    lead = np.tile([n.lead for n in notes], n_cycles)
    kind = np.tile([n.kind for n in notes], n_cycles)
    diddle = np.tile([n.diddle for n in notes], n_cycles)
    graces = np.tile([n.graces for n in notes], n_cycles)

    intended = (cyc * pattern.slots + slots) * slot
    u = intended
    drift = rng.normal(0.0, tier.drift)
    times = intended - drift * u**2 / (2 * duration)
    slip = rng.normal(0.0, profile.timing_ms / 1000, len(u))
    times = times + slip + np.where(lead, 0.0, profile.other_hand_lag_ms / 1000)

    level = np.where(kind == "accent", 0.0, -profile.accent_db)
    level = level + np.where(diddle == 1, 0.5, 0.0)
    level = level - np.where(diddle == 2, rng.uniform(0.5, 1.5) * tier.diddle_drop_db, 0.0)
    level = level + np.where(lead, 0.0, profile.other_hand_db)
    level = level + rng.normal(0.0, tier.velocity_db, len(level))
    bounce_gap = profile.buzz_gap_ms / 1000
    bounces = int(np.clip((slot * 0.9) // bounce_gap, 3, 8))
    groups = [
        {
            "t": times,
            "intended": intended,
            "lead": lead,
            "db": level,
            "type": np.where(kind == "tap", np.where(diddle > 0, "diddle", "tap"), kind),
            "diddle": diddle,
            "buzz": np.where(kind == "buzz", bounces, 0),
        }
    ]

    for count, spacing in GRACE_SPACING.items():
        idx = np.flatnonzero(graces == count)
        if not len(idx):
            continue
        gap = (profile.flam_ms if count == 1 else profile.drag_ms) / 1000 * np.array(spacing)
        jitter = 1 + np.clip(rng.normal(0.0, tier.flam_var, (len(idx), 1)), -0.5, 0.5)
        offsets = gap[None, :] * jitter
        offsets *= np.minimum(1.0, MAX_GRACE_SPAN * count * slot / offsets[:, :1])
        g_lead = np.repeat(~lead[idx], count)
        g_db = profile.grace_db + np.linspace(1.0, -1.5, count) if count > 1 else [profile.grace_db]
        db = np.tile(g_db, len(idx)) + np.where(g_lead, 0.0, profile.other_hand_db)
        groups.append(
            _extra(
                (times[idx, None] - offsets).ravel(),
                (intended[idx, None] - gap[None, :]).ravel(),
                g_lead,
                db + rng.normal(0.0, tier.velocity_db / 2, len(db)),
                "grace",
            )
        )

    buzz = np.flatnonzero(kind == "buzz")
    if len(buzz):
        k = np.arange(1, bounces)
        jitter = 1 + rng.normal(0.0, 0.05, (len(buzz), len(k)))
        drop = rng.uniform(2.0, 3.5, (len(buzz), 1)) * k
        groups.append(
            _extra(
                (times[buzz, None] + k * bounce_gap * jitter).ravel(),
                (intended[buzz, None] + k * bounce_gap).ravel(),
                np.repeat(lead[buzz], len(k)),
                (level[buzz, None] - drop).ravel(),
                "bounce",
            )
        )

    cols = {key: np.concatenate([g[key] for g in groups]) for key in groups[0]}
    order = np.argsort(cols["t"], kind="stable")
    cols = {key: value[order] for key, value in cols.items()}
    return Performance(
        times=np.maximum(cols["t"], 0.0),
        intended=cols["intended"],
        lead=cols["lead"],
        level_db=cols["db"],
        stroke_type=cols["type"].tolist(),
        diddle=cols["diddle"],
        buzz_count=cols["buzz"],
        num_cycles=n_cycles,
        num_strokes=int(np.sum(cols["type"] != "bounce")),
    )


@dataclass(frozen=True)
class Take:
    """One clip as played and recorded: the audio and what went into it."""

    wave: np.ndarray
    performance: Performance
    duration: float
    preset: Preset
    acoustics: Acoustics
    peak_dbfs: float


def play(
    pattern: Pattern,
    profile: Profile,
    bank: Bank,
    rooms: Rooms,
    tempo_bpm: int,
    rng: np.random.Generator,
) -> Take:
    """``pattern`` played by ``profile`` at ``tempo_bpm`` through a room of one of SOUSA's
    presets: four cycles, the ring-out, then half a second of the room's noise."""
    sr = rooms.sample_rate
    cycles = CYCLES * pattern.beats_per_cycle * 60.0 / tempo_bpm
    duration = cycles + float(rng.uniform(*TAIL_SEC))
    num_samples = round((duration + SILENCE_SEC) * sr)
    preset = PRESETS[list(PRESETS)[int(rng.integers(len(PRESETS)))]]
    acoustics = rooms.draw(preset.name, rng)
    peak_dbfs = float(rng.uniform(*PEAK_DBFS))

    perf = perform(pattern, profile, tempo_bpm, duration, rng)
    dry = render(bank, perf.times, (~perf.lead).astype(np.int64), perf.level_db, num_samples, rng)
    wave = rooms.finish(dry, acoustics, rng)
    wave *= 10.0 ** (peak_dbfs / 20.0) / np.abs(wave).max()
    fade = round(0.01 * sr)
    wave[-fade:] *= np.linspace(1.0, 0.0, fade)
    return Take(wave, perf, duration, preset, acoustics, peak_dbfs)


def _extra(
    t: np.ndarray, intended: np.ndarray, lead: np.ndarray, db: np.ndarray, stroke_type: str
) -> dict[str, np.ndarray]:
    """Strokes added around the main ones (grace notes, buzz bounces), as performance columns."""
    n = len(t)
    return {
        "t": t,
        "intended": intended,
        "lead": lead,
        "db": db,
        "type": np.full(n, stroke_type),
        "diddle": np.zeros(n, dtype=np.int64),
        "buzz": np.zeros(n, dtype=np.int64),
    }


def assign_profiles(n: int, rng: np.random.Generator) -> list[tuple[str, Tier]]:
    """(split, tier) per profile: ~70/15/15 with at least one per split, tiers spread evenly
    within each split so no split is all beginners."""
    n_val = max(1, round(n * SPLIT_FRACTIONS[1]))
    n_test = max(1, round(n * SPLIT_FRACTIONS[2]))
    sizes = {"train": n - n_val - n_test, "val": n_val, "test": n_test}
    order = rng.permutation(n)
    out: list[tuple[str, Tier]] = [("", TIERS[0])] * n
    start = 0
    for split, size in sizes.items():
        offset = int(rng.integers(len(TIERS)))
        for j, p in enumerate(order[start : start + size]):
            out[int(p)] = (split, TIERS[(offset + j) % len(TIERS)])
        start += size
    return out


def _stream(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def _params(clips_per_rudiment: int, seed: int, sample_rate: int) -> dict[str, Any]:
    return {
        "name": GENERATOR,
        "version": VERSION,
        "clips_per_rudiment": clips_per_rudiment,
        "seed": seed,
        "sample_rate": sample_rate,
    }


def _check_args(clips_per_rudiment: int, seed: int, sample_rate: int) -> None:
    if clips_per_rudiment < 3:
        raise DemoDataError(
            f"clips_per_rudiment={clips_per_rudiment}: need at least 3 (one player profile "
            "each for train, val and test)"
        )
    if seed < 0:
        raise DemoDataError(f"seed={seed}: must be 0 or more")
    if not 8000 <= sample_rate <= 96000:
        raise DemoDataError(f"sample_rate={sample_rate}: must be between 8000 and 96000 Hz")


def _existing(out: Path, params: dict[str, Any]) -> DemoSummary | None:
    """A complete set with these parameters -> its summary; nothing -> None; else an error.

    A set from another generator version with the same parameters is reused as it is: it is
    the same kind of data, and re-rendering a cache behind a user's back helps nobody.
    """
    if not out.exists():
        return None
    if not out.is_dir():
        raise DemoDataError(f"{out}: exists and is not a folder; choose another --out")
    index = out / "index.json"
    if not index.is_file():
        if any(out.iterdir()):
            raise DemoDataError(
                f"{out}: exists, is not empty and is not a complete demo data set (no "
                "index.json); it is left alone. Remove it or choose another folder."
            )
        return None
    try:
        doc = json.loads(index.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DemoDataError(f"{index}: unreadable ({exc}); remove {out} to re-render") from exc
    found = doc.get("generator") if isinstance(doc, dict) else None
    if not isinstance(found, dict) or found.get("name") != GENERATOR:
        raise DemoDataError(
            f"{out}: holds a data set not made by the demo generator; it is left alone. "
            "Choose another folder for the demo set."
        )
    differ = {k: v for k, v in params.items() if k != "version" and found.get(k) != v}
    if differ:
        diff = ", ".join(f"{k}={found.get(k)!r} (asked {v!r})" for k, v in differ.items())
        raise DemoDataError(
            f"{out}: holds a demo set rendered with other parameters: {diff}. Remove it or "
            "choose another folder."
        )
    return DemoSummary(
        clips=int(doc["num_samples"]), seconds=0.0, clips_per_second=0.0, root=out, rendered=False
    )


def _sweep_stale(out: Path) -> None:
    """Remove half-written renders of ``out`` whose process is gone."""
    for tmp in out.parent.glob(f".{out.name}.tmp-*"):
        try:
            pid = int(tmp.name.rsplit("-", 1)[1])
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(tmp, ignore_errors=True)
        except (ValueError, PermissionError):
            continue


_STRING = pa.large_string()
SAMPLE_SCHEMA = pa.schema(
    [
        ("sample_id", _STRING),
        ("profile_id", _STRING),
        ("rudiment_slug", _STRING),
        ("tempo_bpm", pa.int64()),
        ("duration_sec", pa.float64()),
        ("num_cycles", pa.int64()),
        ("skill_tier", _STRING),
        ("skill_tier_binary", _STRING),
        ("dominant_hand", _STRING),
        ("audio_path", _STRING),
        ("num_strokes", pa.int64()),
        ("num_measures", pa.int64()),
        ("soundfont", _STRING),
        ("augmentation_preset", _STRING),
        ("augmentation_group_id", _STRING),
        ("aug_soundfont", _STRING),
        ("aug_room_type", _STRING),
        ("aug_room_wet_dry", pa.float64()),
        ("aug_mic_distance", pa.float64()),
        ("aug_mic_type", _STRING),
        ("aug_compression_ratio", pa.float64()),
        ("aug_noise_level_db", pa.float64()),
        ("peak_dbfs", pa.float64()),
        ("lead_in_sec", pa.float64()),
    ]
)
STROKE_SCHEMA = pa.schema(
    [
        ("sample_id", _STRING),
        ("index", pa.int64()),
        ("hand", _STRING),
        ("stroke_type", _STRING),
        ("intended_time_ms", pa.float64()),
        ("actual_time_ms", pa.float64()),
        ("level_db", pa.float64()),
        ("is_grace_note", pa.bool_()),
        ("is_accent", pa.bool_()),
        ("diddle_position", pa.int64()),
        ("buzz_count", pa.int64()),
    ]
)


class _Writer:
    """Renders clips into a folder and collects the label rows."""

    def __init__(self, root: Path, sample_rate: int, rooms: Rooms) -> None:
        self.root = root
        self.sample_rate = sample_rate
        self.rooms = rooms
        self.samples: list[dict[str, Any]] = []
        self.strokes: dict[str, list[Any]] = {name: [] for name in STROKE_SCHEMA.names}

    def clip(self, profile: Profile, bank: Bank, slug: str, rng: np.random.Generator) -> None:
        sr = self.sample_rate
        tempo = int(rng.integers(TEMPO_BPM[0], TEMPO_BPM[1] + 1))
        pattern = PATTERNS[slug]
        take = play(pattern, profile, bank, self.rooms, tempo, rng)
        wave, perf, preset, acoustics = take.wave, take.performance, take.preset, take.acoustics
        duration, peak_dbfs = take.duration, take.peak_dbfs

        kit_tag = profile.drum.kit.replace("synth_snare_", "synth")
        sample_id = (
            f"{profile.tier.abbrev}{profile.number:03d}_{slug}_{tempo}bpm_{kit_tag}_"
            f"{preset.name.replace('_', '')}"
        )
        rel = f"audio/{slug}/{sample_id}.flac"
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, wave, sr, subtype="PCM_16", format="FLAC", compression_level=0.0)

        beats = perf.num_cycles * pattern.beats_per_cycle
        self.samples.append(
            {
                "sample_id": sample_id,
                "profile_id": profile.profile_id,
                "rudiment_slug": slug,
                "tempo_bpm": tempo,
                "duration_sec": duration,
                "num_cycles": perf.num_cycles,
                "skill_tier": profile.tier.name,
                "skill_tier_binary": profile.tier.binary,
                "dominant_hand": profile.dominant_hand,
                "audio_path": rel,
                "num_strokes": perf.num_strokes,
                "num_measures": math.ceil(beats / 4),
                "soundfont": profile.drum.kit,
                "augmentation_preset": preset.name,
                "augmentation_group_id": f"{profile.profile_id[:8]}_{slug}_{tempo}",
                "aug_soundfont": profile.drum.kit,
                "aug_room_type": preset.room_type,
                "aug_room_wet_dry": round(acoustics.room.wet, 4),
                "aug_mic_distance": preset.mic_distance,
                "aug_mic_type": preset.mic_type,
                "aug_compression_ratio": preset.compression if preset.compression > 1 else None,
                "aug_noise_level_db": round(acoustics.noise_db, 1),
                "peak_dbfs": round(peak_dbfs, 2),
                "lead_in_sec": 0.0,
            }
        )
        lead_hand, other_hand = ("R", "L") if profile.dominant_hand == "right" else ("L", "R")
        n = len(perf.times)
        s = self.strokes
        s["sample_id"].extend([sample_id] * n)
        s["index"].extend(range(n))
        s["hand"].extend(np.where(perf.lead, lead_hand, other_hand).tolist())
        s["stroke_type"].extend(perf.stroke_type)
        s["intended_time_ms"].extend(np.round(perf.intended * 1000, 3).tolist())
        s["actual_time_ms"].extend(np.round(perf.times * 1000, 3).tolist())
        s["level_db"].extend(np.round(perf.level_db, 2).tolist())
        s["is_grace_note"].extend([t == "grace" for t in perf.stroke_type])
        s["is_accent"].extend([t == "accent" for t in perf.stroke_type])
        s["diddle_position"].extend(perf.diddle.tolist())
        s["buzz_count"].extend(perf.buzz_count.tolist())

    def close(self, profiles: list[Profile], params: dict[str, Any]) -> None:
        """Labels and splits, then index.json last: its presence marks the set complete."""
        labels = self.root / "labels"
        labels.mkdir(parents=True, exist_ok=True)
        pq.write_table(
            pa.Table.from_pylist(self.samples, SAMPLE_SCHEMA), labels / "samples.parquet"
        )
        pq.write_table(
            pa.Table.from_pydict(self.strokes, STROKE_SCHEMA), labels / "strokes.parquet"
        )
        splits = {
            f"{split}_profile_ids": [p.profile_id for p in profiles if p.split == split]
            for split in ("train", "val", "test")
        }
        (self.root / "splits.json").write_text(json.dumps(splits, indent=2) + "\n")
        index = {
            "num_samples": len(self.samples),
            "sample_ids": [row["sample_id"] for row in self.samples],
            "config": {"audio_format": "flac", "sample_rate": self.sample_rate, "channels": 1},
            "generator": params,
        }
        (self.root / "index.json").write_text(json.dumps(index, indent=2) + "\n")


def generate_demo_dataset(
    out: Path,
    *,
    clips_per_rudiment: int = 20,
    seed: int = 0,
    sample_rate: int = 16000,
    progress: Callable[[int, int], None] | None = None,
) -> DemoSummary:
    """Render the demo set into ``out`` unless an identical complete one is already there.

    The set is rendered into a hidden sibling folder and renamed into place when complete, so
    an interrupted render is never taken for a data set. A folder holding anything else (other
    parameters, other data, a non-empty folder) raises DemoDataError and is left untouched.
    """
    _check_args(clips_per_rudiment, seed, sample_rate)
    out = Path(out).expanduser()
    params = _params(clips_per_rudiment, seed, sample_rate)
    done = _existing(out, params)
    if done is not None:
        return done
    out.parent.mkdir(parents=True, exist_ok=True)
    _sweep_stale(out)
    tmp = out.parent / f".{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()

    started = time.perf_counter()
    try:
        plan = assign_profiles(clips_per_rudiment, _stream(seed, 0))
        profiles = [
            draw_profile(i + 1, split, tier, _stream(seed, 1, i))
            for i, (split, tier) in enumerate(plan)
        ]
        max_samples = math.ceil(LONGEST_SEC * sample_rate)
        writer = _Writer(tmp, sample_rate, Rooms(sample_rate, max_samples, _stream(seed, 4)))
        total = clips_per_rudiment * len(PATTERNS)
        count = 0
        for i, profile in enumerate(profiles):
            bank = stroke_bank(profile, sample_rate, _stream(seed, 2, i))
            for r, slug in enumerate(PATTERNS):
                writer.clip(profile, bank, slug, _stream(seed, 3, i, r))
                count += 1
                if progress is not None:
                    progress(count, total)
        writer.close(profiles, params)
    except SynthUnavailable as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise DemoDataError(f"cannot render the demo data set into {out}: {exc}") from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    seconds = time.perf_counter() - started

    try:
        tmp.rename(out)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        done = _existing(out, params)
        if done is None:
            raise
        return done
    return DemoSummary(
        clips=count, seconds=seconds, clips_per_second=count / max(seconds, 1e-9), root=out
    )


def run_demo_data(out: Path, *, clips_per_rudiment: int, seed: int, sample_rate: int) -> int:
    """`sousa-train demo-data`: render with a progress line, end with the clip rate."""
    tty = sys.stdout.isatty()
    step = max(1, (clips_per_rudiment * len(PATTERNS)) // 10)

    def report(done: int, total: int) -> None:
        if tty:
            print(f"\rrendering {done}/{total} clips", end="", flush=True)
        elif done % step == 0 or done == total:
            print(f"rendered {done}/{total} clips", flush=True)

    try:
        summary = generate_demo_dataset(
            out,
            clips_per_rudiment=clips_per_rudiment,
            seed=seed,
            sample_rate=sample_rate,
            progress=report,
        )
    except DemoDataError as exc:
        print(f"sousa-train: {exc}", file=sys.stderr)
        return 1
    if tty and summary.rendered:
        print()
    if not summary.rendered:
        print(f"{summary.root}: complete demo data set already there ({summary.clips} clips)")
        return 0
    print(
        f"wrote {summary.clips} clips to {summary.root} in {summary.seconds:.1f} s: "
        f"{summary.clips_per_second:.1f} clips/s"
    )
    return 0
