"""EfficientAT: the reference architecture, its frontend, and strict loading of official weights."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from sousa_train.models.efficientat import (
    FINAL_LAYER,
    CheckpointMismatchError,
    MobileNetV3,
    build,
)
from sousa_train.models.frontends import PREEMPHASIS, SILENCE, EfficientATMel
from sousa_train.models.registry import build_model


def n_params(width: float, num_classes: int = 527) -> int:
    with torch.device("meta"):  # shapes only, no memory or init time
        net = MobileNetV3(width, num_classes)
    return sum(p.numel() for p in net.parameters())


# Params (millions) of the AudioSet models in the EfficientAT README.
@pytest.mark.parametrize(
    ("width", "millions"),
    [(0.4, 0.983), (1.0, 4.88), (2.0, 17.91), (3.0, 39.09), (4.0, 68.43)],
)
def test_parameter_counts_match_the_reference(width: float, millions: float) -> None:
    assert n_params(width) / 1e6 == pytest.approx(millions, abs=0.005)


def test_official_key_names_and_shapes() -> None:
    """Keys and shapes as they are in the official mn10 state dicts (e.g. mn10_as_mAP_471.pt)."""
    with torch.device("meta"):
        state = MobileNetV3(1.0, 527).state_dict()
    expected = {
        "features.0.0.weight": (16, 1, 3, 3),
        "features.0.1.running_var": (16,),
        "features.1.block.0.0.weight": (16, 1, 3, 3),  # first block has no expansion conv
        "features.2.block.0.0.weight": (64, 16, 1, 1),
        "features.4.block.2.conc_se_layers.0.fc1.weight": (24, 72),
        "features.4.block.2.conc_se_layers.0.fc2.bias": (72,),
        "features.15.block.3.1.num_batches_tracked": (),
        "features.16.0.weight": (960, 160, 1, 1),
        "classifier.2.weight": (1280, 960),
        "classifier.5.weight": (527, 1280),
        "classifier.5.bias": (527,),
    }
    assert {k: tuple(state[k].shape) for k in expected} == expected
    assert len(state) == 312


@pytest.mark.parametrize("variant", ["tiny", "mn04"])
def test_forward_and_backward_on_three_second_clips(variant: str) -> None:
    model = build_model("efficientat", variant=variant, num_classes=40)
    assert model.sample_rate == 32000
    logits = model(torch.randn(4, 3 * 32000))
    assert logits.shape == (4, 40)
    logits.logsumexp(dim=1).mean().backward()
    assert all(p.grad is not None for p in model.parameters())
    head = model.network.get_submodule(model.head_name)
    assert head.get_submodule(FINAL_LAYER.split(".", 1)[1]).out_features == 40


@pytest.mark.parametrize(
    ("rate", "window", "hop", "n_fft", "fmax"),
    [(32000, 800, 320, 1024, 15000.0), (16000, 400, 160, 512, 7000.0)],
)
def test_frontend_constants_and_shape(
    rate: int, window: int, hop: int, n_fft: int, fmax: float
) -> None:
    front = EfficientATMel(rate)
    assert (front.win_length, front.hop_length, front.n_fft, front.fmax) == (
        window,
        hop,
        n_fft,
        fmax,
    )
    assert not list(front.parameters())
    n = 3 * rate + 17
    mel = front(torch.randn(2, n))
    # Pre-emphasis drops one sample before the centred STFT.
    assert mel.shape == (2, 128, (n - 1) // hop + 1)
    assert torch.isfinite(mel).all()
    assert torch.isfinite(front(torch.zeros(1, rate))).all()


@pytest.mark.parametrize("rate", [16000, 32000])
def test_frontend_skips_padding_without_changing_a_frame(rate: int) -> None:
    """Rows of unequal clips zero-padded to one length (a batch of whole SOUSA clips): the
    frames each row's padding is skipped for are exactly those of the whole row."""
    front = EfficientATMel(rate, 32)
    n = 4 * rate
    torch.manual_seed(0)
    wave = torch.zeros(5, n)
    for row, length in enumerate([n, rate // 2, 2 * rate + 3, 0]):
        wave[row, :length] = 0.1 * torch.randn(length)
    wave[4, rate - 1] = 1.0  # a click on the clip's very last sample, then padding
    x = wave[:, 1:] - PREEMPHASIS * wave[:, :-1]
    whole = front._logmel(x)
    got = front(wave)
    assert got.shape == whole.shape
    torch.testing.assert_close(got, whole, atol=1e-5, rtol=0)
    # The click is heard, and the padding and the silent row are silence.
    click = (rate - 1) // front.hop_length
    silence = torch.full_like(got[3], SILENCE)
    torch.testing.assert_close(got[3], silence)
    torch.testing.assert_close(got[4, :, click + 3 :], silence[:, click + 3 :])
    assert got[4, :, click].mean() > SILENCE + 0.5


def test_frontend_puts_a_tone_in_its_mel_band() -> None:
    """An independent check of the filterbank: HTK mel spacing over 0 Hz .. fmax."""
    front = EfficientATMel(32000)
    t = torch.arange(32000) / 32000

    def mel(f: float) -> float:
        return 1127.0 * math.log(1.0 + f / 700.0)

    step = mel(front.fmax) / (front.n_mels + 1)
    for freq in (300.0, 1000.0, 4000.0, 12000.0):
        spec = front(torch.sin(2 * math.pi * freq * t)[None])
        peak = int(spec[0].mean(dim=1).argmax())
        assert abs(peak - (mel(freq) / step - 1)) <= 1.0, freq


def test_frontend_stays_float32_under_autocast() -> None:
    front = EfficientATMel(16000)
    wave = torch.randn(2, 16000)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = front(wave)
    assert mixed.dtype == torch.float32
    assert torch.equal(mixed, front(wave))


def hashed_weights(net: MobileNetV3) -> dict[str, torch.Tensor]:
    """Deterministic, input-sensitive weights that need no random generator."""
    state = {}
    for i, (key, t) in enumerate(net.state_dict().items()):
        if not t.is_floating_point():
            state[key] = t
            continue
        n = torch.arange(t.numel(), dtype=torch.float64)
        u = torch.frac(torch.sin(n * 12.9898 + i * 78.233).abs() * 43758.5453) * 2 - 1
        v = u.float().reshape(t.shape)
        if t.dim() > 1:
            state[key] = v * 2.5 / t[0].numel() ** 0.5
        elif key.endswith("running_var"):
            state[key] = 1.0 + 0.1 * v.abs()
        elif key.endswith(".1.weight"):
            state[key] = 1.0 + 0.1 * v
        else:
            state[key] = 0.1 * v
    return state


def test_outputs_match_the_reference_implementation() -> None:
    """Golden values from running EfficientAT's own AugmentMelSTFT (eval) and MN (width 0.1,
    5 classes) on the same hashed weights and clips: any drift in the frontend, an activation,
    the SE gate or a shortcut changes them."""
    net = MobileNetV3(0.1, 5).eval()
    net.load_state_dict(hashed_weights(net))
    front = EfficientATMel(32000)
    t = torch.arange(16000, dtype=torch.float64) / 32000
    chirp = torch.sin(2 * math.pi * (200 + 3000 * t) * t)
    decaying = torch.sin(2 * math.pi * 440 * t) * torch.exp(-4 * t)
    wave = torch.stack([chirp, decaying]).float()
    with torch.no_grad():
        mel = front(wave)
        logits = net(mel)
    close = {"rtol": 1e-4, "atol": 1e-4}
    torch.testing.assert_close(
        mel[0, ::16, 20],
        torch.tensor(
            [-1.40250, -1.39363, -1.22229, 0.84491, -1.39070, -1.40247, -1.40258, -1.40258]
        ),
        **close,
    )
    torch.testing.assert_close(
        mel[1, ::16, 5],
        torch.tensor(
            [-1.39211, 0.81241, -1.36381, -1.40209, -1.40254, -1.40258, -1.40258, -1.40259]
        ),
        **close,
    )
    expected = torch.tensor(
        [
            [5.49464, -11.60425, 13.65253, -1.47271, 1.30243],
            [0.82638, -0.99963, 1.88544, 0.28350, 0.43739],
        ]
    )
    torch.testing.assert_close(logits, expected, rtol=1e-3, atol=1e-3)


@pytest.fixture(scope="module")
def official_mn04(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """An AudioSet-format mn04 file (527 classes, plain state dict), as the releases ship."""
    state = MobileNetV3(0.4, 527).state_dict()
    path = tmp_path_factory.mktemp("weights") / "mn04_as.pt"
    torch.save(state, path)
    return path, state


def test_official_checkpoint_loads_with_a_new_head(official_mn04: tuple[Path, dict]) -> None:
    path, saved = official_mn04
    model = build(variant="mn04", num_classes=40, pretrained=str(path), sample_rate=32000)
    loaded = model.network.state_dict()
    head = {f"{FINAL_LAYER}.weight", f"{FINAL_LAYER}.bias"}
    assert set(loaded) == set(saved)
    for key in set(saved) - head:
        assert torch.equal(loaded[key], saved[key]), key
    assert loaded[f"{FINAL_LAYER}.weight"].shape == (40, 512)
    assert model(torch.randn(2, 32000)).shape == (2, 40)


def test_checkpoint_with_our_class_count_keeps_its_head(tmp_path: Path) -> None:
    path = tmp_path / "finetuned.pt"
    state = MobileNetV3(0.1, 40).state_dict()
    torch.save(state, path)
    model = build(variant="tiny", num_classes=40, pretrained=str(path), sample_rate=32000)
    for key, value in model.network.state_dict().items():
        assert torch.equal(value, state[key]), key


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda s: {k.replace("conc_se_layers", "se"): v for k, v in s.items()}, "missing keys"),
        (lambda s: {**s, "features.17.0.weight": torch.zeros(1)}, "unexpected keys"),
        (lambda s: {k: v for k, v in s.items() if k != "classifier.2.bias"}, "classifier.2.bias"),
        (lambda s: {"model": s}, "not a plain state dict"),
    ],
)
def test_damaged_checkpoints_are_refused(
    official_mn04: tuple[Path, dict], tmp_path: Path, edit, message: str
) -> None:
    path = tmp_path / "damaged.pt"
    torch.save(edit(dict(official_mn04[1])), path)
    with pytest.raises(CheckpointMismatchError, match=message):
        build(variant="mn04", num_classes=40, pretrained=str(path), sample_rate=32000)


def test_checkpoint_of_another_width_is_refused(official_mn04: tuple[Path, dict]) -> None:
    with pytest.raises(CheckpointMismatchError, match="shape mismatches"):
        build(variant="tiny", num_classes=40, pretrained=str(official_mn04[0]), sample_rate=32000)


def test_missing_weights_file_says_where_to_get_them(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "mn10_as.pt"
    with pytest.raises(FileNotFoundError) as info:
        build(variant="mn10", num_classes=40, pretrained=str(path), sample_rate=32000)
    message = str(info.value)
    assert str(path) in message
    assert "mn10_as_mAP_471.pt" in message
    assert "sousa-train weights fetch efficientat/mn10" in message
    assert "Nothing is downloaded" in message


def test_pretrained_weights_need_32_khz(official_mn04: tuple[Path, dict]) -> None:
    with pytest.raises(ValueError, match="32000 Hz"):
        build(variant="mn04", num_classes=40, pretrained=str(official_mn04[0]), sample_rate=16000)
