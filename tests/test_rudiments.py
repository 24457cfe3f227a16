"""The label space: 40 rudiments in PAS order, families, and every accepted spelling."""

from __future__ import annotations

import pytest

from sousa_train.rudiments import (
    NUM_CLASSES,
    RUDIMENTS,
    UnknownRudimentError,
    by_class_id,
    class_id,
    normalize_slug,
)


def test_pas_order_class_ids_and_families() -> None:
    assert NUM_CLASSES == 40 and len({r.slug for r in RUDIMENTS}) == 40
    assert [r.class_id for r in RUDIMENTS] == list(range(40))
    assert (
        by_class_id(0).slug == "single_stroke_roll" and by_class_id(39).slug == "triple_ratamacue"
    )
    families = [r.family for r in RUDIMENTS]
    assert families == ["roll"] * 15 + ["diddle"] * 4 + ["flam"] * 11 + ["drag"] * 10
    assert class_id("flam_accent") == 20 and class_id("lesson_25") == 33


@pytest.mark.parametrize(
    ("label", "slug"),
    [
        ("flam-accent", "flam_accent"),
        ("Drag-Paradiddle-1", "drag_paradiddle_1"),
        ("single_paradiddle_diddle", "paradiddle_diddle"),
        ("single-paradiddle-diddle", "paradiddle_diddle"),
        (" seventeen_stroke_roll ", "seventeen_stroke_roll"),
    ],
)
def test_accepted_spellings(label: str, slug: str) -> None:
    assert normalize_slug(label) == slug


def test_unknown_label_is_a_clear_error() -> None:
    with pytest.raises(UnknownRudimentError, match="'paradiddle' is not one of the 40"):
        normalize_slug("paradiddle")
    with pytest.raises(ValueError):
        by_class_id(40)
