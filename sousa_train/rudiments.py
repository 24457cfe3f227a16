"""The 40 PAS International Drum Rudiments: the label space of every SOUSA model.

Class ids are PAS numbers minus one, so a confusion matrix in class-id order is
in PAS order and the four families sit in contiguous blocks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Family = Literal["roll", "diddle", "flam", "drag"]

FAMILIES: tuple[Family, ...] = ("roll", "diddle", "flam", "drag")


@dataclass(frozen=True)
class Rudiment:
    pas: int
    slug: str
    name: str

    @property
    def class_id(self) -> int:
        return self.pas - 1

    @property
    def family(self) -> Family:
        return family_of_pas(self.pas)


def family_of_pas(pas: int) -> Family:
    if 1 <= pas <= 15:
        return "roll"
    if pas <= 19:
        return "diddle"
    if pas <= 30:
        return "flam"
    if pas <= 40:
        return "drag"
    raise ValueError(f"PAS number {pas} is outside 1..40")


_TABLE = [
    ("single_stroke_roll", "Single Stroke Roll"),
    ("single_stroke_four", "Single Stroke Four"),
    ("single_stroke_seven", "Single Stroke Seven"),
    ("multiple_bounce_roll", "Multiple Bounce Roll"),
    ("triple_stroke_roll", "Triple Stroke Roll"),
    ("double_stroke_open_roll", "Double Stroke Open Roll"),
    ("five_stroke_roll", "Five Stroke Roll"),
    ("six_stroke_roll", "Six Stroke Roll"),
    ("seven_stroke_roll", "Seven Stroke Roll"),
    ("nine_stroke_roll", "Nine Stroke Roll"),
    ("ten_stroke_roll", "Ten Stroke Roll"),
    ("eleven_stroke_roll", "Eleven Stroke Roll"),
    ("thirteen_stroke_roll", "Thirteen Stroke Roll"),
    ("fifteen_stroke_roll", "Fifteen Stroke Roll"),
    ("seventeen_stroke_roll", "Seventeen Stroke Roll"),
    ("single_paradiddle", "Single Paradiddle"),
    ("double_paradiddle", "Double Paradiddle"),
    ("triple_paradiddle", "Triple Paradiddle"),
    ("paradiddle_diddle", "Paradiddle-Diddle"),
    ("flam", "Flam"),
    ("flam_accent", "Flam Accent"),
    ("flam_tap", "Flam Tap"),
    ("flamacue", "Flamacue"),
    ("flam_paradiddle", "Flam Paradiddle"),
    ("single_flammed_mill", "Single Flammed Mill"),
    ("flam_paradiddle_diddle", "Flam Paradiddle-Diddle"),
    ("pataflafla", "Pataflafla"),
    ("swiss_army_triplet", "Swiss Army Triplet"),
    ("inverted_flam_tap", "Inverted Flam Tap"),
    ("flam_drag", "Flam Drag"),
    ("drag", "Drag"),
    ("single_drag_tap", "Single Drag Tap"),
    ("double_drag_tap", "Double Drag Tap"),
    ("lesson_25", "Lesson 25"),
    ("single_dragadiddle", "Single Dragadiddle"),
    ("drag_paradiddle_1", "Drag Paradiddle #1"),
    ("drag_paradiddle_2", "Drag Paradiddle #2"),
    ("single_ratamacue", "Single Ratamacue"),
    ("double_ratamacue", "Double Ratamacue"),
    ("triple_ratamacue", "Triple Ratamacue"),
]

RUDIMENTS: tuple[Rudiment, ...] = tuple(
    Rudiment(pas=i + 1, slug=slug, name=name) for i, (slug, name) in enumerate(_TABLE)
)
NUM_CLASSES = len(RUDIMENTS)
SLUGS: tuple[str, ...] = tuple(r.slug for r in RUDIMENTS)

_BY_SLUG = {r.slug: r for r in RUDIMENTS}
_ALIASES = {"single_paradiddle_diddle": "paradiddle_diddle"}


class UnknownRudimentError(ValueError):
    """A label that is not one of the 40 rudiments (after normalisation)."""


def normalize_slug(label: str) -> str:
    """Map any accepted spelling (dashes, case, known aliases) to SOUSA's slug."""
    slug = label.strip().lower().replace("-", "_").replace(" ", "_")
    slug = _ALIASES.get(slug, slug)
    if slug not in _BY_SLUG:
        raise UnknownRudimentError(
            f"{label!r} is not one of the 40 PAS rudiments; expected a SOUSA slug "
            f"such as 'flam_accent' or 'drag_paradiddle_1' (dashes are accepted)"
        )
    return slug


def by_slug(label: str) -> Rudiment:
    return _BY_SLUG[normalize_slug(label)]


def class_id(label: str) -> int:
    return by_slug(label).class_id


def by_class_id(cid: int) -> Rudiment:
    if not 0 <= cid < NUM_CLASSES:
        raise ValueError(f"class id {cid} is outside 0..{NUM_CLASSES - 1}")
    return RUDIMENTS[cid]
