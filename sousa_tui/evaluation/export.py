"""Writing the browser's views to files beside the evaluation, for papers and reports.

Files land in eval/<split>/ next to predictions.parquet: confusion.csv (counts, PAS order),
confusion.png (coloured by row share, counts printed), per_rudiment.csv.
"""

from __future__ import annotations

import csv
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from sousa_train.rudiments import NUM_CLASSES, RUDIMENTS, SLUGS
from sousa_tui.evaluation.confusion import BACKGROUND, FENCES, heat_rgb
from sousa_tui.evaluation.scores import EvalData, RudimentRow, per_rudiment, row_normalised

CELL = 18
LEFT = 190
TOP = 44


def write_confusion_csv(data: EvalData, path: Path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["true \\ predicted", *SLUGS])
        for slug, row in zip(SLUGS, data.confusion.tolist(), strict=True):
            writer.writerow([slug, *row])


RUDIMENT_HEADER = ("pas", "rudiment", "family", "precision", "recall", "f1", "support")


def write_rudiment_csv(rows: list[RudimentRow], path: Path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow([*RUDIMENT_HEADER, "confused_with", "confused_count"])
        for r in rows:
            confused = "" if r.confused_with is None else SLUGS[r.confused_with]
            scores = (f"{v:.4f}" for v in (r.precision, r.recall, r.f1))
            writer.writerow(
                [r.pas, r.slug, r.family, *scores, r.support, confused, r.confused_count]
            )


def _fence_offset(index: int) -> int:
    """Pixels added before a class by the family fences, which are 2 px wide."""
    return 2 * sum(index >= f for f in FENCES)


def write_confusion_png(data: EvalData, path: Path) -> None:
    """The matrix as a picture: rows true, columns predicted, families fenced off."""
    side = NUM_CLASSES * CELL + 2 * len(FENCES)
    image = Image.new("RGB", (LEFT + side + 8, TOP + side + 8), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=11)
    fractions = row_normalised(data.confusion)
    title = (
        f"{data.run.root.parent.name}/{data.run.run_id}  {data.split}: rows true, columns predicted"
    )
    draw.text((4, 4), title, fill="black", font=font)
    for i, r in enumerate(RUDIMENTS):
        y = TOP + i * CELL + _fence_offset(i)
        x = LEFT + i * CELL + _fence_offset(i)
        draw.text((4, y + 3), f"{r.pas:>2} {r.name}"[:30], fill="black", font=font)
        draw.text((x + 2, TOP - 14), f"{r.pas}", fill="black", font=font)
        for j in range(NUM_CLASSES):
            count = int(data.confusion[i, j])
            cx = LEFT + j * CELL + _fence_offset(j)
            colour = heat_rgb(fractions[i, j], i == j) if count else BACKGROUND
            draw.rectangle((cx, y, cx + CELL - 2, y + CELL - 2), fill=colour)
            if count:
                draw.text((cx + 2, y + 3), str(count), fill="white", font=font)
    image.save(path)


def export_all(data: EvalData) -> list[Path]:
    """Write every export into the split's eval folder; returns the files written."""
    folder = data.folder
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / "confusion.csv", folder / "confusion.png", folder / "per_rudiment.csv"]
    write_confusion_csv(data, paths[0])
    write_confusion_png(data, paths[1])
    write_rudiment_csv(per_rudiment(data.confusion), paths[2])
    return paths
