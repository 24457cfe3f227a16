"""The 40 PAS rudiments as sticking patterns timed as SOUSA times them: what the demo plays.

Each rudiment is one line of a compact notation, written for this project from the public
rudiment facts (the SOUSA generator's per-rudiment definitions list the hands, stroke types,
grace notes and cycle length in beats):

- ``R``/``L`` accent, ``r``/``l`` tap; ``R`` is the lead hand (the player's dominant one);
- ``rr``/``ll`` a diddle: two strokes of one hand, the second a bounce;
- prefix ``f`` a flam (one grace note), ``d`` a drag (two), ``D`` a double drag (four); grace
  notes are played by the other hand just before the main stroke;
- prefix ``b`` a buzz stroke (a press that bounces several times within its slot).

Timing follows SOUSA's generator, as its stroke labels show: every stroke of a cycle, grace
notes included, takes one slot of an even grid across the cycle's beats (a nine-stroke roll:
nine slots over 2.5 beats; a flam tap: six slots over 1.5 beats), and each grace note is then
played a flam or drag spacing before its main stroke, so its own slot sounds as a gap. That
is why most rolls have no audible beat and why flam rudiments limp: the rhythm a listener hears.
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
    """One cycle of a rudiment: ``slots`` even slots over ``beats_per_cycle`` beats; a main
    stroke's ``slot`` follows the slots of its grace notes."""

    slug: str
    beats_per_cycle: float
    slots: int
    notes: tuple[Note, ...]

    def tempo_from_stroke_period(self, period: float) -> float:
        """The tempo in bpm at which this pattern's even slots are ``period`` seconds apart."""
        return 60.0 * self.beats_per_cycle / (period * self.slots)

    def tempo_from_span(self, span: float, cycles: int) -> float:
        """The tempo in bpm at which ``cycles`` cycles, heard from the first stroke to the
        last (``cycles - 1/slots`` cycles: the last slot ends the performance), take
        ``span`` seconds."""
        return 60.0 * self.beats_per_cycle * (cycles - 1 / self.slots) / max(span, 1e-3)


_NOTATION: dict[str, tuple[float, str]] = {
    "single_stroke_roll": (2, "r l r l r l r l"),
    "single_stroke_four": (1, "R l r l"),
    "single_stroke_seven": (2, "R l r l r L r"),
    "multiple_bounce_roll": (2, "br bl br bl br bl br bl"),
    "triple_stroke_roll": (2, "R r r L l l"),
    "double_stroke_open_roll": (1, "rr ll"),
    "five_stroke_roll": (1.5, "rr ll R"),
    "six_stroke_roll": (1.5, "R ll rr L"),
    "seven_stroke_roll": (2, "rr ll rr L"),
    "nine_stroke_roll": (2.5, "rr ll rr ll R"),
    "ten_stroke_roll": (2.5, "R ll rr ll rr L"),
    "eleven_stroke_roll": (3, "rr ll rr ll rr L"),
    "thirteen_stroke_roll": (3.5, "rr ll rr ll rr ll R"),
    "fifteen_stroke_roll": (4, "rr ll rr ll rr ll rr L"),
    "seventeen_stroke_roll": (4.5, "rr ll rr ll rr ll rr ll R"),
    "single_paradiddle": (2, "R l rr L r ll"),
    "double_paradiddle": (3, "R l r l rr L r l r ll"),
    "triple_paradiddle": (4, "R l r l r l rr L r l r l r ll"),
    "paradiddle_diddle": (2, "R l rr ll L r ll rr"),
    "flam": (1, "fR fL"),
    "flam_accent": (2, "fR l r fL r l"),
    "flam_tap": (1.5, "fR r fL l"),
    "flamacue": (3, "fR l r l R fL r l r L"),
    "flam_paradiddle": (2.5, "fR l rr fL r ll"),
    "single_flammed_mill": (2, "fR ll fL rr"),
    "flam_paradiddle_diddle": (2, "fR l rr ll fL r ll rr"),
    "pataflafla": (3, "fR l fL r fL r fR l"),
    "swiss_army_triplet": (2, "fR l l fL r r"),
    "inverted_flam_tap": (1.5, "l fR r fL"),
    "flam_drag": (3, "fR l dR fL r dL"),
    "drag": (1, "dR dL"),
    "single_drag_tap": (2, "dR l dL r"),
    "double_drag_tap": (2, "DR l DL r"),
    "lesson_25": (4, "dR dL fL dL dR fR"),
    "single_dragadiddle": (3, "dR l rr dL r ll"),
    "drag_paradiddle_1": (3.5, "dR l r ll dL r l rr"),
    "drag_paradiddle_2": (5, "dR l dL r ll dL r dR l rr"),
    "single_ratamacue": (2, "dr l r L dl r l R"),
    "double_ratamacue": (3, "dr dl r l R dl dr l r L"),
    "triple_ratamacue": (4, "dr dl dr l r L dl dr dl r l R"),
}

_TOKEN = re.compile(r"^(?P<prefix>[fdDb]?)(?P<hand>[rRlL])(?P<diddle>[rl]?)$")


def parse(slug: str, beats_per_cycle: float, notation: str) -> Pattern:
    """Notation -> Pattern; a malformed token is a programming error, reported with its rudiment."""
    notes: list[Note] = []
    slot = 0
    for token in notation.split():
        m = _TOKEN.match(token)
        if m is None or (m["diddle"] and m["diddle"] != m["hand"]):
            raise ValueError(f"{slug}: bad token {token!r} in {notation!r}")
        prefix, hand = m["prefix"], m["hand"]
        lead = hand in "rR"
        kind: Kind = "buzz" if prefix == "b" else "accent" if hand.isupper() else "tap"
        graces = GRACES_BY_PREFIX.get(prefix, 0)
        slot += graces
        if m["diddle"]:
            notes.append(Note(slot, lead, kind, diddle=1, graces=graces))
            notes.append(Note(slot + 1, lead, "tap", diddle=2, graces=0))
            slot += 2
        else:
            notes.append(Note(slot, lead, kind, diddle=0, graces=graces))
            slot += 1
    return Pattern(slug=slug, beats_per_cycle=beats_per_cycle, slots=slot, notes=tuple(notes))


PATTERNS: dict[str, Pattern] = {
    slug: parse(slug, beats, notation) for slug, (beats, notation) in _NOTATION.items()
}

if tuple(PATTERNS) != SLUGS:
    raise RuntimeError("patterns.py must define every rudiment of rudiments.SLUGS, in PAS order")
