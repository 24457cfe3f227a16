"""The 40 PAS rudiments as sticking patterns on a beat grid: what the demo generator plays.

Each rudiment is one line of a compact notation, written for this project from the public
rudiment facts (the SOUSA generator's per-rudiment definitions list the hands, stroke types,
grace notes, subdivision and cycle length). One token fills one grid slot:

- ``R``/``L`` accent, ``r``/``l`` tap; ``R`` is the lead hand (the player's dominant one);
- ``rr``/``ll`` a diddle: two strokes of one hand on two slots, the second a bounce;
- prefix ``f`` a flam (one grace note), ``d`` a drag (two), ``D`` a double drag (four); grace
  notes are played by the other hand just before the main stroke, so they take no slot;
- prefix ``b`` a buzz stroke (a press that bounces several times within its slot);
- ``.`` a rest.

Hands, stroke types and grace notes follow SOUSA's definitions. So do subdivision and cycle
length wherever its stroke list fills that grid; where SOUSA's cycle is longer than its strokes
(flam tap, inverted flam tap, flam paradiddle, pataflafla, single dragadiddle, the drag
paradiddles) the strokes are played as an even run of the subdivision, and single flammed mill,
flam drag (triplets), single and double drag tap and lesson 25 (eighths) get the grid their
strokes fill. Rests (``.``) fill out SOUSA's cycle after the last stroke of a phrase.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from sousa_train.rudiments import SLUGS

Kind = Literal["accent", "tap", "buzz"]

GRACES_BY_PREFIX = {"": 0, "f": 1, "d": 2, "D": 4}


@dataclass(frozen=True)
class Note:
    """One main stroke on the grid; its grace notes (if any) hang off it.

    ``diddle`` is 0 for a single stroke, 1 and 2 for the first and second of a diddle.
    """

    slot: int
    lead: bool
    kind: Kind
    diddle: int
    graces: int


@dataclass(frozen=True)
class Pattern:
    """One cycle of a rudiment: notes on a grid of ``per_beat`` slots per beat."""

    slug: str
    per_beat: int
    slots: int
    notes: tuple[Note, ...]

    @property
    def beats_per_cycle(self) -> float:
        return self.slots / self.per_beat

    @property
    def strokes_per_cycle(self) -> int:
        """Main strokes plus grace notes, as a listener would count them (buzzes count once)."""
        return sum(1 + n.graces for n in self.notes)


_NOTATION: dict[str, tuple[int, str]] = {
    "single_stroke_roll": (4, "r l r l r l r l"),
    "single_stroke_four": (4, "R l r l"),
    "single_stroke_seven": (4, "R l r l r L r ."),
    "multiple_bounce_roll": (4, "br bl br bl br bl br bl"),
    "triple_stroke_roll": (3, "R r r L l l"),
    "double_stroke_open_roll": (4, "rr ll"),
    "five_stroke_roll": (4, "rr ll R ."),
    "six_stroke_roll": (4, "R ll rr L"),
    "seven_stroke_roll": (4, "rr ll rr L ."),
    "nine_stroke_roll": (4, "rr ll rr ll R ."),
    "ten_stroke_roll": (4, "R ll rr ll rr L"),
    "eleven_stroke_roll": (4, "rr ll rr ll rr L ."),
    "thirteen_stroke_roll": (4, "rr ll rr ll rr ll R ."),
    "fifteen_stroke_roll": (4, "rr ll rr ll rr ll rr L ."),
    "seventeen_stroke_roll": (4, "rr ll rr ll rr ll rr ll R ."),
    "single_paradiddle": (4, "R l rr L r ll"),
    "double_paradiddle": (4, "R l r l rr L r l r ll"),
    "triple_paradiddle": (4, "R l r l r l rr L r l r l r ll"),
    "paradiddle_diddle": (6, "R l rr ll L r ll rr"),
    "flam": (2, "fR fL"),
    "flam_accent": (3, "fR l r fL r l"),
    "flam_tap": (4, "fR r fL l"),
    "flamacue": (4, "fR l r l R . fL r l r L ."),
    "flam_paradiddle": (4, "fR l rr fL r ll"),
    "single_flammed_mill": (3, "fR ll fL rr"),
    "flam_paradiddle_diddle": (6, "fR l rr ll fL r ll rr"),
    "pataflafla": (4, "fR l fL r fL r fR l"),
    "swiss_army_triplet": (3, "fR l l fL r r"),
    "inverted_flam_tap": (4, "l fR r fL"),
    "flam_drag": (3, "fR l dR fL r dL"),
    "drag": (2, "dR dL"),
    "single_drag_tap": (2, "dR l dL r"),
    "double_drag_tap": (2, "DR l DL r"),
    "lesson_25": (2, "dR dL fL dL dR fR"),
    "single_dragadiddle": (4, "dR l rr dL r ll"),
    "drag_paradiddle_1": (4, "dR l r ll dL r l rr"),
    "drag_paradiddle_2": (4, "dR l dL r ll dL r dR l rr"),
    "single_ratamacue": (4, "dr l r L dl r l R"),
    "double_ratamacue": (4, "dr dl r l R . dl dr l r L ."),
    "triple_ratamacue": (4, "dr dl dr l r L . . dl dr dl r l R . ."),
}

_TOKEN = re.compile(r"^(?P<prefix>[fdDb]?)(?P<hand>[rRlL])(?P<diddle>[rl]?)$")


def parse(slug: str, per_beat: int, notation: str) -> Pattern:
    """Notation -> Pattern; a malformed token is a programming error, reported with its rudiment."""
    notes: list[Note] = []
    slot = 0
    for token in notation.split():
        if token == ".":
            slot += 1
            continue
        m = _TOKEN.match(token)
        if m is None or (m["diddle"] and m["diddle"] != m["hand"]):
            raise ValueError(f"{slug}: bad token {token!r} in {notation!r}")
        prefix, hand = m["prefix"], m["hand"]
        lead = hand in "rR"
        kind: Kind = "buzz" if prefix == "b" else "accent" if hand.isupper() else "tap"
        graces = GRACES_BY_PREFIX.get(prefix, 0)
        if m["diddle"]:
            notes.append(Note(slot, lead, kind, diddle=1, graces=graces))
            notes.append(Note(slot + 1, lead, "tap", diddle=2, graces=0))
            slot += 2
        else:
            notes.append(Note(slot, lead, kind, diddle=0, graces=graces))
            slot += 1
    return Pattern(slug=slug, per_beat=per_beat, slots=slot, notes=tuple(notes))


PATTERNS: dict[str, Pattern] = {
    slug: parse(slug, per_beat, notation) for slug, (per_beat, notation) in _NOTATION.items()
}

if tuple(PATTERNS) != SLUGS:
    raise RuntimeError("patterns.py must define every rudiment of rudiments.SLUGS, in PAS order")
