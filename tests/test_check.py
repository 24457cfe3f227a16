"""`sousa-train data check` as a user runs it: a real subprocess on real and damaged copies."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from sousa_train.data.check import check_dataset, print_report
from sousa_train.data.reader import open_dataset
from tests.conftest import damage_audio


def check(path: Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("sousa-train", path=str(Path(sys.executable).parent))
    assert exe, "the sousa-train script is not installed next to this Python (pip install -e .)"
    return subprocess.run(
        [exe, "data", "check", str(path)], capture_output=True, text=True, timeout=120
    )


def test_the_real_fixture_passes(fixture_root: Path) -> None:
    result = check(fixture_root)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "sousa layout" in out and "clips: 12" in out
    for split in ("train", "val", "test"):
        assert f"  {split:<5}      4 clips,  4 rudiments (roll 1, diddle 1, flam 1, drag 1)" in out
    assert "rudiments: 4 of 40" in out and "36 of the 40 rudiments have no clips" in out
    assert "sample rates: 44100 Hz x 12" in out and "channels: 2 ch x 12" in out
    assert "FLAC PCM_24 x 12" in out and "12 usable" in out
    assert out.rstrip().endswith("OK: no problems found")


def test_every_problem_is_listed_in_one_pass(fixture_copy: Path) -> None:
    clips = open_dataset(fixture_copy).clips("val")
    broken = damage_audio([c.path for c in clips])
    splits = json.loads((fixture_copy / "splits.json").read_text())
    splits["test_profile_ids"] = ["nobody"]  # the test split loses its 4 clips
    (fixture_copy / "splits.json").write_text(json.dumps(splits))
    result = check(fixture_copy)
    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    assert (
        "clips: 8" in out and "12 files" not in out and "8 files decoded in full, 4 usable" in out
    )
    assert f"missing audio files: 1\n  {broken['missing']}\n" in out
    assert "unreadable audio files: 3" in out
    for kind in ("garbage", "empty", "truncated"):
        assert str(broken[kind]) in out
    assert "note: 4 clip(s)" in out and "in no split of splits.json" in out
    assert "FAILED: 3 problem(s):" in out
    assert "  - the test split has no clips" in out
    assert "  - 1 missing audio file(s)" in out and "  - 3 unreadable audio file(s)" in out


# The cases below call check_dataset and print_report in-process (what the CLI calls), to
# keep the suite fast.


def test_a_split_missing_a_rudiment_fails(
    fixture_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clip = next(c for c in open_dataset(fixture_copy).clips("val") if c.slug == "flam_accent")
    labels = fixture_copy / "labels" / "samples.parquet"
    pq.write_table(pq.read_table(labels).filter(pc.field("sample_id") != clip.sample_id), labels)
    assert print_report(check_dataset(fixture_copy)) == 1
    out = capsys.readouterr().out
    assert "  - the val split lacks 1 rudiment(s) the data set has: flam_accent" in out
    assert "11 usable" in out


def test_not_a_data_set_prints_the_readers_paragraph(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert print_report(check_dataset(tmp_path)) == 1
    out = capsys.readouterr().out
    assert f"{tmp_path}: not a SOUSA-format data set" in out
    assert "FAILED: the data set cannot be read" in out
    assert print_report(check_dataset(tmp_path / "nowhere")) == 1
    assert "data set folder not found" in capsys.readouterr().out


def test_the_check_returns_its_findings_and_prints_nothing(
    fixture_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clips = open_dataset(fixture_copy).clips("train")
    clips[0].path.write_bytes(b"")
    report = check_dataset(fixture_copy)
    assert capsys.readouterr().out == ""  # printing is print_report's job alone
    assert not report.ok and report.dataset is not None and len(report.files) == 12
    (bad,) = [r for r in report.files if r.error]
    assert bad.path == clips[0].path and "empty file" in bad.error
    assert report.fatal == [
        "1 unreadable audio file(s) (training would skip these clips; the data set should be fixed)"
    ]
    assert {r.rate for r in report.files if r.error is None} == {44100}
