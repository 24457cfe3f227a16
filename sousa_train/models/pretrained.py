"""The official pretrained weights of each model variant: what a strategy that needs weights
starts from unless the experiment names others, and what ``sousa-train weights`` fetches.

Torch-free: the manifest and ``sousa-train weights`` read it without building a model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sousa_train.rundir.layout import RunDir


@dataclass(frozen=True)
class OfficialWeights:
    """One variant's published weights: a release file (``file``) or a hub id (``hub_id``).

    ``pretrained`` is what an experiment's ``pretrained`` setting resolves to: the hub id, or
    the bare file name, looked up in the weights folder. ``url`` is the file's direct
    download; ``page`` is where its publisher links it, for files no program can download.
    """

    model: str
    variant: str
    source: str
    file: str | None = None
    url: str | None = None
    hub_id: str | None = None
    page: str | None = None

    @property
    def name(self) -> str:
        """How ``sousa-train weights fetch`` names it: ``model/variant``."""
        return f"{self.model}/{self.variant}"

    @property
    def pretrained(self) -> str:
        return self.hub_id or self.file or ""

    @property
    def origin(self) -> str:
        """Where it comes from, as a user would look it up."""
        if self.hub_id:
            return f"https://huggingface.co/{self.hub_id}"
        return self.url or self.page or ""


# Checked against fschmid56/EfficientAT models/mn/model.py (`model_url`, `pretrained_models`).
EFFICIENTAT_RELEASE = "https://github.com/fschmid56/EfficientAT/releases/download/v0.0.1/"
# microsoft/unilm beats/README.md links its checkpoints as OneDrive share pages since April
# 2024 (commit 7bd2f87 replaced the direct blob URLs): a browser download, not a program's.
BEATS_PAGE = "https://github.com/microsoft/unilm/tree/master/beats"
BEATS_AS2M_SHARE = "https://1drv.ms/u/s!AqeByhGUtINrgcpke6_lRSZEKD5j2Q?e=A3FpOf"

OFFICIAL: tuple[OfficialWeights, ...] = (
    *(
        OfficialWeights(
            "efficientat",
            variant,
            "EfficientAT AudioSet release v0.0.1 (github.com/fschmid56/EfficientAT)",
            file=file,
            url=EFFICIENTAT_RELEASE + file,
        )
        for variant, file in (
            ("tiny", "mn01_as_mAP_298.pt"),
            ("mn04", "mn04_as_mAP_432.pt"),
            ("mn10", "mn10_as_mAP_471.pt"),
            ("mn20", "mn20_as_mAP_478.pt"),
            ("mn30", "mn30_as_mAP_482.pt"),
            ("mn40", "mn40_as_mAP_484.pt"),
        )
    ),
    OfficialWeights(
        "ast",
        "base",
        "Hugging Face Hub, AST fine-tuned on AudioSet",
        hub_id="MIT/ast-finetuned-audioset-10-10-0.4593",
    ),
    OfficialWeights(
        "htsat",
        "base",
        "Hugging Face Hub, LAION CLAP (HTS-AT audio tower)",
        hub_id="laion/clap-htsat-unfused",
    ),
    OfficialWeights(
        "beats",
        "base",
        f"BEATs iter3+ AS2M, OneDrive share linked from {BEATS_PAGE}",
        file="BEATs_iter3_plus_AS2M.pt",
        page=BEATS_AS2M_SHARE,
    ),
)

OFFICIAL_FILES: frozenset[str] = frozenset(w.file for w in OFFICIAL if w.file)


def official_weights(model: str, variant: str) -> OfficialWeights | None:
    return next((w for w in OFFICIAL if (w.model, w.variant) == (model, variant)), None)


def official_by_name(name: str) -> OfficialWeights | None:
    """``efficientat/mn10`` -> its entry; None when no variant is called that."""
    return next((w for w in OFFICIAL if w.name == name), None)


def default_pretrained(model: str, variant: str) -> str | None:
    """The ``pretrained`` value a variant uses when an experiment names none."""
    weights = official_weights(model, variant)
    return weights.pretrained if weights else None


RUN_PREFIX = "run:"


def names_run(pretrained: str | None) -> bool:
    """Whether ``pretrained`` is one of our own runs (``run:NAME`` or a run directory), whose
    best checkpoint initialises the same model, rather than published weights."""
    if not pretrained:
        return False
    if pretrained.startswith(RUN_PREFIX):
        return True
    # A saved transformers model folder has a config.json too; only runs have these.
    run = RunDir(Path(pretrained).expanduser())
    return run.status.is_file() or run.checkpoints.is_dir()
