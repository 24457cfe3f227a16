"""The experiments one `[matrix.NAME]` table expands to, in the manifest's order.

The manifest keeps no record of which matrix an experiment came from, so this reads the
table again and expands it with the manifest's own expansion: the names are exactly the
ones `load_manifest` made, never a guess from a shared prefix.
"""

from __future__ import annotations

from sousa_train.config.manifest import Manifest, ManifestError, _expand_matrix, tomllib


def matrix_experiments(manifest: Manifest, name: str) -> list[str]:
    """Names of the experiments of matrix ``name``; a ManifestError naming the choices if none."""
    doc = tomllib.loads(manifest.path.read_text(encoding="utf-8"))
    tables = doc.get("matrix", {})
    if name not in tables:
        known = ", ".join(tables) or "(none)"
        raise ManifestError(
            f"{manifest.path}: no matrix named {name!r}. Matrices in this manifest: {known}."
        )
    return [member for member, _ in _expand_matrix(manifest.path, name, tables[name])]
