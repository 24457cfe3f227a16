"""BEATs: the official layout, strict loading of official-format checkpoint files."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import pytest
import torch

from sousa_train.models.beats import VARIANTS, BEATs, build
from sousa_train.models.beats_layers import relative_buckets
from sousa_train.models.weights import CheckpointMismatchError


def official_checkpoint(path: Path, num_classes: int | None = None) -> dict:
    """A file as the releases ship: ``{"cfg": ..., "model": state_dict}`` with random weights."""
    cfg = {**asdict(VARIANTS["tiny"]), "deep_norm": True, "relative_position_embedding": True}
    cfg |= {"gru_rel_pos": True, "layer_norm_first": False}
    state = BEATs(VARIANTS["tiny"], num_classes or 1).state_dict()
    if num_classes is None:  # pre-trained (not fine-tuned) files have no predictor
        state = {k: v for k, v in state.items() if not k.startswith("predictor.")}
    torch.save({"cfg": cfg, "model": state}, path)
    return state


def test_base_has_the_official_keys_and_size() -> None:
    """Key names and shapes of BEATs_iter3_plus_AS2M.pt; 90 M parameters as in the paper."""
    with torch.device("meta"):
        net = BEATs(VARIANTS["base"], 527)
    state = net.state_dict()
    expected = {
        "patch_embedding.weight": (512, 1, 16, 16),
        "layer_norm.weight": (512,),
        "post_extract_proj.weight": (768, 512),
        "encoder.pos_conv.0.weight_g": (1, 1, 128),
        "encoder.pos_conv.0.weight_v": (768, 48, 128),
        "encoder.layer_norm.bias": (768,),
        "encoder.layers.0.self_attn.relative_attention_bias.weight": (320, 12),
        "encoder.layers.11.self_attn.grep_linear.weight": (8, 64),
        "encoder.layers.11.self_attn.grep_a": (1, 12, 1, 1),
        "encoder.layers.5.fc1.weight": (3072, 768),
        "encoder.layers.5.final_layer_norm.weight": (768,),
        "predictor.weight": (527, 768),
    }
    assert {k: tuple(state[k].shape) for k in expected} == expected
    assert sum(p.numel() for p in net.parameters()) / 1e6 == pytest.approx(90.3, abs=0.5)


def test_relative_buckets_are_t5_bidirectional() -> None:
    b = relative_buckets(400, 320, 800)
    assert b[0, 0] == 0 and b[5, 0] == 5 and b[0, 5] == 165  # exact, later keys offset by half
    assert b.max() < 320 and torch.equal(b.diagonal(), torch.zeros(400, dtype=torch.long))
    far = b[0, 80:400]
    assert (far[1:] >= far[:-1]).all()  # log-spaced buckets grow with distance


def test_official_file_loads_strictly_with_a_new_predictor(tmp_path: Path) -> None:
    path = tmp_path / "BEATs_iter3.pt"
    saved = official_checkpoint(path)
    model = build(variant="tiny", num_classes=40, pretrained=str(path), sample_rate=16000)
    loaded = model.network.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in saved.items())
    assert loaded["predictor.weight"].shape == (40, 32)
    logits = model(torch.randn(2, 16000))
    assert logits.shape == (2, 40)
    logits.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_finetuned_file_with_our_classes_keeps_its_predictor(tmp_path: Path) -> None:
    path = tmp_path / "finetuned.pt"
    saved = official_checkpoint(path, num_classes=40)
    model = build(variant="tiny", num_classes=40, pretrained=str(path), sample_rate=16000)
    assert torch.equal(model.network.predictor.weight, saved["predictor.weight"])


def test_wrong_files_fail_naming_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "BEATs_iter3_plus_AS2M.pt"
    with pytest.raises(FileNotFoundError, match=r"BEATs_iter3_plus_AS2M\.pt.*unilm"):
        build(variant="tiny", num_classes=40, pretrained=str(missing), sample_rate=16000)
    renamed = tmp_path / "renamed.pt"
    official_checkpoint(renamed)
    checkpoint = torch.load(renamed, weights_only=True)
    checkpoint["model"]["encoder.layers.0.self_attn.q.weight"] = checkpoint["model"].pop(
        "encoder.layers.0.self_attn.q_proj.weight"
    )
    torch.save(checkpoint, renamed)
    with pytest.raises(CheckpointMismatchError, match=r"renamed\.pt.*missing keys.*q_proj"):
        build(variant="tiny", num_classes=40, pretrained=str(renamed), sample_rate=16000)
    other = tmp_path / "prenorm.pt"
    official_checkpoint(other)
    checkpoint = torch.load(other, weights_only=True)
    checkpoint["cfg"]["layer_norm_first"] = True
    torch.save(checkpoint, other)
    with pytest.raises(CheckpointMismatchError, match=r"prenorm\.pt.*layer_norm_first"):
        build(variant="tiny", num_classes=40, pretrained=str(other), sample_rate=16000)
    with pytest.raises(ValueError, match=r"prenorm\.pt.*16000 Hz.*set sample_rate = 16000"):
        build(variant="tiny", num_classes=40, pretrained=str(other), sample_rate=22050)
