"""The folder tree is the architecture: each part imports only the parts the README's map
allows, so the console stays torch-free and the run-directory library stays usable anywhere."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Part -> the parts of ours it may import (README, "Development").
ALLOWED: dict[str, set[str]] = {
    "sousa_train.rundir": {"sousa_train.rundir"},
    "sousa_train.compare": {
        "sousa_train.compare",
        "sousa_train.rundir",
        "sousa_train.config",
        "sousa_train.rudiments",
    },
    "sousa_train.scores": set(),
    "sousa_train.rudiments": set(),
    "sousa_tui": {
        "sousa_tui",
        "sousa_train.rundir",
        "sousa_train.compare",
        "sousa_train.config",
        "sousa_train.data.shards",
        "sousa_train.scores",
        "sousa_train.rudiments",
    },
}
# Never imported at module level by the parts above, where it would cost every reader.
HEAVY = ("torch", "torchaudio", "lightning", "transformers", "peft", "optuna")


def _modules(part: str) -> list[Path]:
    path = ROOT / part.replace(".", "/")
    return sorted(path.rglob("*.py")) if path.is_dir() else [path.with_suffix(".py")]


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("part", sorted(ALLOWED))
def test_parts_import_only_what_the_map_allows(part: str) -> None:
    wrong = []
    for module in _modules(part):
        for name in _imports(module):
            ours = name.startswith(("sousa_train", "sousa_tui"))
            if ours and not any(name == a or name.startswith(a + ".") for a in ALLOWED[part]):
                wrong.append(f"{module.relative_to(ROOT)} imports {name}")
            if name.split(".")[0] in HEAVY:
                wrong.append(f"{module.relative_to(ROOT)} imports {name}")
    assert not wrong, "\n".join(wrong)


def test_sousa_train_keeps_few_top_level_modules() -> None:
    top = sorted(p.name for p in (ROOT / "sousa_train").glob("*.py") if p.name != "__init__.py")
    assert len(top) <= 8, top
