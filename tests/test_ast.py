"""AST through transformers: local checkpoints, AST's fbank, interpolated position embeddings."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import ASTForAudioClassification
from transformers.models.audio_spectrogram_transformer.modeling_audio_spectrogram_transformer import (  # noqa: E501
    ASTEmbeddings,
)

from sousa_train.models.ast import InterpolatedEmbeddings, build, variant_config
from sousa_train.models.weights import CheckpointMismatchError


@pytest.fixture(scope="module")
def saved_ast(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """A tiny AudioSet-style (527-class) AST saved with ``save_pretrained``."""
    folder = tmp_path_factory.mktemp("ast")
    model = ASTForAudioClassification(variant_config("tiny", 527))
    model.save_pretrained(folder)
    return folder, model.state_dict()


def test_loads_a_local_folder_with_a_new_head(saved_ast: tuple[Path, dict]) -> None:
    folder, saved = saved_ast
    model = build(variant="tiny", num_classes=40, pretrained=str(folder), sample_rate=16000)
    loaded = model.network.ast.state_dict()
    body = [k for k in saved if not k.startswith("classifier.dense")]
    assert body and all(torch.equal(loaded[k], saved[k]) for k in body)
    assert loaded["classifier.dense.weight"].shape == (40, 32)
    logits = model(torch.randn(2, 3 * 16000))
    assert logits.shape == (2, 40)
    features = model.features(torch.randn(1, 16000))
    assert features.shape == (1, 128, 98)  # 128 bins, 25 ms frames every 10 ms


def test_other_variant_or_missing_folder_fails(
    saved_ast: tuple[Path, dict], tmp_path: Path
) -> None:
    folder, _ = saved_ast
    with pytest.raises(CheckpointMismatchError, match="hidden_size=32"):
        build(variant="base", num_classes=40, pretrained=str(folder), sample_rate=16000)
    with pytest.raises(FileNotFoundError, match=r"nowhere.*hf download"):
        build(
            variant="tiny", num_classes=40, pretrained=str(tmp_path / "nowhere"), sample_rate=16000
        )


def test_short_clips_keep_the_middle_of_the_pretrained_position_grid() -> None:
    """As AST's own recipe for inputs under 1024 frames: the 12 x 101 grid's middle 29 time
    columns (from 101 // 2 - 29 // 2 = 36) for a 300-frame clip, values untouched."""
    config = variant_config("tiny", 40)
    stock = ASTEmbeddings(config).eval()
    torch.nn.init.normal_(stock.position_embeddings)
    fitted = InterpolatedEmbeddings(config).eval()
    fitted.load_state_dict(stock.state_dict())
    full = torch.randn(1, config.max_length, config.num_mel_bins)
    torch.testing.assert_close(fitted(full), stock(full))  # identity at the checkpoint length
    with torch.no_grad():
        short = full[:, :300]
        positions = fitted(short)[0, 2:] - fitted.patch_embeddings(short)[0]
    stored = fitted.position_embeddings[0, 2:].detach().reshape(12, 101, -1)
    torch.testing.assert_close(positions.reshape(12, 29, -1), stored[:, 36:65])
    # A clip longer than the canvas interpolates the grid over the longer time axis instead.
    with torch.no_grad():
        long = torch.randn(1, 2 * config.max_length, config.num_mel_bins)
        grown = fitted(long)[0, 2:] - fitted.patch_embeddings(long)[0]
    assert grown.shape[0] == 12 * ((2 * config.max_length - 16) // config.time_stride + 1)
