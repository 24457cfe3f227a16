"""HTS-AT as CLAP's audio tower: local checkpoints, and the whole clip reaching the model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import ClapAudioModelWithProjection, ClapFeatureExtractor

from sousa_train.models.htsat import build, variant_config


@pytest.fixture(scope="module")
def saved_clap(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp("clap")
    model = ClapAudioModelWithProjection(variant_config("tiny"))
    model.save_pretrained(folder)
    return folder, model.audio_model.state_dict()


def test_loads_the_audio_tower_from_a_local_folder(saved_clap: tuple[Path, dict]) -> None:
    folder, saved = saved_clap
    model = build(variant="tiny", num_classes=40, pretrained=str(folder), sample_rate=48000)
    loaded = model.network.audio.state_dict()
    assert set(loaded) == set(saved)
    assert all(torch.equal(loaded[k], v) for k, v in saved.items())
    assert model(torch.randn(2, 48000)).shape == (2, 40)


def test_the_end_of_the_clip_changes_the_output() -> None:
    """No silent crop: a change in the clip's last second reaches the logits."""
    torch.manual_seed(0)
    model = build(variant="tiny", num_classes=40, pretrained=None, sample_rate=16000).eval()
    wave = torch.randn(1, 4 * 16000)
    late = wave.clone()
    late[:, -16000:] = 0.0
    with torch.no_grad():
        assert not torch.allclose(model(wave), model(late))
    with pytest.raises(ValueError, match="at most 5 s"):
        model(torch.randn(1, 6 * 16000))


def test_clips_are_fed_as_clap_feeds_them() -> None:
    """A 3.7 s clip becomes CLAP's own input: repeated, zero-padded to 10 s, 1001 frames of the
    same log-mel as transformers' ClapFeatureExtractor (``repeatpad``, the LAION setting)."""
    rng = np.random.default_rng(0)
    wave = (0.1 * rng.standard_normal(int(3.7 * 48000))).astype(np.float32)
    reference = ClapFeatureExtractor(
        feature_size=64, frequency_min=50, padding="repeatpad", truncation="rand_trunc"
    )(wave, sampling_rate=48000, return_tensors="pt")["input_features"][0, 0]
    model = build(variant="base", num_classes=40, pretrained=None, sample_rate=48000)
    with torch.no_grad():
        ours = model.frontend(torch.from_numpy(wave)[None])[0].T
    assert ours.shape == reference.shape == (1001, 64)
    torch.testing.assert_close(ours, reference.float(), atol=2e-3, rtol=1e-4)
