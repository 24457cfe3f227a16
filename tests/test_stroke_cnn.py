"""StrokeCNN behind the stroke view: built from the registry, trained for real on whole demo
clips with an average of its weights (EMA), and `predict` on a clip judging it exactly as
`eval` did."""

from __future__ import annotations

import pytest
import torch

from sousa_train.models.registry import build_model
from sousa_train.models.strokes import StrokeView
from sousa_train.rundir.layout import RunDir
from sousa_train.rundir.scan import find_runs
from tests.agreement import assert_predict_agrees_with_eval
from tests.cli import sousa_train

MANIFEST = """
[datasets.demo-tiny]
demo = { clips_per_rudiment = 5, seed = 1, sample_rate = 16000 }

[experiments.strokes-smoke]
model = "strokecnn"
strategy = "from_scratch"
variant = "tiny"
data = "demo-tiny"
train = { max_epochs = 1, early_stop_patience = 0, log_every_steps = 2, ema_decay = 0.5 }
# Whole clips: every demo clip is shorter than this, so a clip is one window from its start.
loader = { batch_size = 16, num_workers = 0, clip_seconds = 21.0, eval_hop_seconds = 21.0 }
"""


def test_builds_from_the_registry_behind_the_stroke_view() -> None:
    model = build_model("strokecnn", variant="tiny", num_classes=40)
    assert isinstance(model.frontend, StrokeView)
    logits = model(torch.randn(2, 16000 * 3) * 0.1)
    assert logits.shape == (2, 40) and torch.isfinite(logits).all()


def test_no_pretrained_weights_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="no published weights"):
        build_model("strokecnn", variant="tiny", num_classes=40, pretrained="official")


@pytest.fixture(scope="module")
def stroke_run(tmp_path_factory: pytest.TempPathFactory, smoke_env: dict[str, str]) -> RunDir:
    root = tmp_path_factory.mktemp("strokes")
    (root / "experiments.toml").write_text(MANIFEST)
    runs = root / "runs"
    done = sousa_train(
        *("run", "strokes-smoke", "--manifest", str(root / "experiments.toml")),
        *("--runs-dir", str(runs)),
        env=smoke_env,
        cwd=root,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return find_runs(runs, "strokes-smoke")[-1]


def test_predict_on_a_clip_agrees_with_its_evaluation(
    stroke_run: RunDir, smoke_env: dict[str, str]
) -> None:
    """The period is estimated inside the model, so a recording gets the view its test clip
    got: the same top-1 and probabilities (to float noise: a 21 s window's FFTs in a batch
    of 16 and alone differ in the last digits)."""
    assert_predict_agrees_with_eval(stroke_run, smoke_env, clips=4, atol=1e-4)


def test_the_checkpoint_holds_the_weight_average(stroke_run: RunDir) -> None:
    """With ``train.ema_decay`` the best checkpoint's weights (what ``eval``, ``predict``
    and ``pretrained = "run:..."`` load) are the moving average, not the last step's, which
    it keeps aside for a resume."""
    checkpoint = torch.load(stroke_run.best_ckpt, map_location="cpu", weights_only=True)
    average, current = checkpoint["state_dict"], checkpoint["current_model_state"]
    assert average.keys() == current.keys()
    head = next(k for k in average if k.endswith("head.weight"))
    assert not torch.allclose(average[head], current[head])
