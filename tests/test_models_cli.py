"""`sousa-train models`: the parameter table of the real configurations, and `--check`."""

from __future__ import annotations

import pytest

from sousa_train.cli.main import main

ADAPTERS = ("lora", "adalora", "ia3")


def test_table_lists_every_combination_with_adapters_training_a_fraction(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = {
        (r[0], r[2]): tuple(int(v.replace(",", "")) for v in r[3:6])
        for r in (line.split() for line in lines[1:] if "%" in line)
    }
    assert len(rows) == 22 and ("rhythmcnn", "from_scratch") in rows
    for model in ("rhythmcnn", "strokecnn"):
        assert f"{model}: from_scratch only (no published weights)" in lines
    assert rows["beats", "full_finetune"] == (90_342_552, 90_342_552, 768 * 40 + 40)
    assert rows["ast", "full_finetune"][0] == pytest.approx(86.2e6, rel=0.01)
    for model in ("ast", "beats", "htsat", "efficientat"):
        full = rows[model, "full_finetune"][1]
        for strategy in ADAPTERS:
            _, trainable, head = rows[model, strategy]
            # Besides the head, the transformers' adapters add a few percent; mn04's layers are
            # so narrow that rank-8 adapters on them weigh more.
            share = 0.05 if model != "efficientat" else 0.2
            assert head < trainable < head + share * full, (model, strategy)
            # EfficientAT's head is a third of mn04.
            assert trainable < (0.05 if model != "efficientat" else 0.5) * full, (model, strategy)


def test_check_runs_every_combination(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "--check"]) == 0
    out = capsys.readouterr().out
    assert out.count("\nok ") + out.startswith("ok ") == 22
    assert "FAIL" not in out and "22 of 22 combinations passed" in out
