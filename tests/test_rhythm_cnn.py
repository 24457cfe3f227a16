"""RhythmCNN: shapes, gain invariance, time resolution, and a real learning signal."""

from __future__ import annotations

import pytest
import torch

from sousa_train.models.registry import build_model
from sousa_train.models.rhythm_cnn import VARIANTS, RhythmCNN


def test_builds_from_the_registry_with_its_frontend() -> None:
    model = build_model("rhythmcnn", variant="tiny", num_classes=40)
    assert model.sample_rate == 16000
    features = model.features(torch.randn(2, 16000))
    assert features.shape == (2, 32, 100)  # 32 mel bins, 10 ms hop
    assert model(torch.randn(2, 16000)).shape == (2, 40)
    assert model.head_name == "head"
    assert (
        build_model("rhythmcnn", variant="tiny", num_classes=40, n_mels=64)
        .features(torch.randn(1, 16000))
        .shape[1]
        == 64
    )


def test_no_pretrained_weights_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"no published weights.*from_scratch.*run:NAME"):
        build_model("rhythmcnn", variant="tiny", num_classes=40, pretrained="w.pt")


def test_a_clip_gain_does_not_change_the_prediction() -> None:
    """A gain is a constant offset of the log-mel; per-example standardisation removes it."""
    torch.manual_seed(0)
    net = RhythmCNN(*VARIANTS["tiny"], num_classes=40).eval()
    x = torch.randn(3, 64, 200)
    with torch.no_grad():
        assert torch.allclose(net(x), net(x + 1.7), atol=1e-4)
        assert not torch.allclose(net(x), net(x.flip(-1)), atol=1e-3)


def test_every_variant_keeps_40_ms_time_steps() -> None:
    for channels, width in VARIANTS.values():
        net = RhythmCNN(channels, width, num_classes=40)
        assert net.blocks(torch.zeros(1, 1, 64, 300)).shape[-1] == 75


def test_learns_a_rhythm_a_time_average_cannot_see() -> None:
    """Two classes with the same onsets per second and the same spectrum, different grouping:
    even pulses versus pairs. A few steps of training must separate them."""
    torch.manual_seed(0)

    def clicks(period: int, pair: bool, n: int) -> torch.Tensor:
        x = torch.full((n, 32, 160), -1.0)
        for i in range(n):
            start = int(torch.randint(0, period, ()))
            for t in range(start, 160, period):
                x[i, :, t] = 1.0
                if pair:
                    x[i, :, min(t + 3, 159)] = 1.0
            x[i] += 0.1 * torch.randn(32, 160)
        return x

    def both(n: int) -> torch.Tensor:
        return torch.cat([clicks(8, False, n), clicks(16, True, n)])

    train, held_out = both(16), both(32)  # held-out: new phases and noise, never trained on
    label = torch.cat([torch.zeros(16), torch.ones(16)]).long()
    net = RhythmCNN(*VARIANTS["tiny"], num_classes=2)
    opt = torch.optim.AdamW(net.parameters(), 1e-2)
    for _ in range(40):
        loss = torch.nn.functional.cross_entropy(net(train), label)
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    with torch.no_grad():
        accuracy = (net(held_out).argmax(1) == label.repeat_interleave(2)).float().mean()
    assert accuracy >= 0.95
