"""The official pretrained weights of each model variant: what a strategy that needs weights
starts from unless the experiment names others, and what ``sousa-train weights`` fetches."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OfficialWeights:
    """One variant's published weights: a release file (``url``) or a hub id (``hub_id``).

    ``pretrained`` is what an experiment's ``pretrained`` setting resolves to: the hub id, or
    the file name, looked up in the weights folder.
    """

    model: str
    variant: str
    source: str
    file: str | None = None
    url: str | None = None
    hub_id: str | None = None

    @property
    def pretrained(self) -> str:
        return self.hub_id or self.file or ""


_EFFICIENTAT_RELEASE = "https://github.com/fschmid56/EfficientAT/releases/download/v0.0.1/"

OFFICIAL: tuple[OfficialWeights, ...] = (
    *(
        OfficialWeights(
            "efficientat",
            variant,
            "EfficientAT AudioSet release (github.com/fschmid56/EfficientAT)",
            file=file,
            url=_EFFICIENTAT_RELEASE + file,
        )
        for variant, file in (
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
        "BEATs iter3+ AS2M (github.com/microsoft/unilm/tree/master/beats)",
        file="BEATs_iter3_plus_AS2M.pt",
    ),
)


def official_weights(model: str, variant: str) -> OfficialWeights | None:
    return next((w for w in OFFICIAL if (w.model, w.variant) == (model, variant)), None)


def default_pretrained(model: str, variant: str) -> str | None:
    """The ``pretrained`` value a variant uses when an experiment names none."""
    weights = official_weights(model, variant)
    return weights.pretrained if weights else None
