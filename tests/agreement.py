"""`predict` against `eval` on the same clips: the check that a recording is judged as a test
clip is (same windows, same pooling, same audio path), shared by every model's tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from sousa_train.rundir.layout import RunDir
from tests.cli import sousa_train


def assert_predict_agrees_with_eval(
    run: RunDir, env: dict[str, str], *, clips: int, atol: float = 1e-6
) -> None:
    """`predict` on the first ``clips`` test clips of ``run`` gives the top-5 probabilities
    its test evaluation wrote, to ``atol``, and the same top-1 where that one is clear."""
    rows = pq.read_table(run.eval_dir("test") / "predictions.parquet").to_pylist()
    root = Path(json.loads(run.config.read_text())["data_root"])
    picked = rows[:clips]
    done = sousa_train(
        "predict", str(run.root), "--json", *(str(root / r["audio_path"]) for r in picked), env=env
    )
    assert done.returncode == 0, done.stderr
    for row, got in zip(picked, json.loads(done.stdout)["files"], strict=True):
        probs = [g["probability"] for g in got["top"]]
        np.testing.assert_allclose(probs, row["top5_probs"], rtol=1e-4, atol=atol)
        ranked = sorted(row["top5_probs"], reverse=True)
        if ranked[0] - ranked[1] > 1e-4:  # a clear winner must be the same rudiment
            assert got["top"][0]["slug"] == row["pred_slug"]
