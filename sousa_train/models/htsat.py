"""HTS-AT (Chen et al. 2022) as CLAP's audio tower, ``ClapAudioModel`` from transformers.

The LAION CLAP checkpoints (``laion/clap-htsat-unfused``) hold a complete HTS-AT: a Swin
transformer over a 64-bin log-mel spectrogram at 48 kHz, 10 ms hop, folded into a 256x256
image (a 1024-frame canvas cut into four bands). We add a linear head on its pooled output.

Clips are fed as CLAP's fine-tuning recipe feeds them (transformers' ``ClapFeatureExtractor``
with ``padding="repeatpad"``, the LAION checkpoints' setting): the waveform is repeated a whole
number of times and zero-padded to 10 s, its log-mel has 1001 frames, and the audio tower
itself resizes those to its 1024-frame canvas (bicubic). So every clip reaches the model at
the time scale it was pretrained on. A clip longer than 10 s is an error, never a silent crop.
"""

from __future__ import annotations

import logging

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torchaudio.transforms import AmplitudeToDB, MelSpectrogram
from transformers import ClapAudioConfig, ClapAudioModel, ClapAudioModelWithProjection

from sousa_train.models.base import AudioClassifier
from sousa_train.models.hub import load_hub_model
from sousa_train.models.pretrained import default_pretrained
from sousa_train.models.registry import MODELS
from sousa_train.models.weights import require_sample_rate

log = logging.getLogger(__name__)

SAMPLE_RATE = MODELS["htsat"].sample_rate
HUB_ID = str(default_pretrained("htsat", "base"))
HEAD_NAME = "head"
# CLAP's feature extractor at 48 kHz: 1024-sample Hann window, 480 hop, 50 Hz to 14 kHz.
_WINDOW_SECONDS = 1024 / 48000
_FMIN = 50.0
_FMAX = 14000.0
ARCHITECTURE = (
    "window_size",
    "num_mel_bins",
    "spec_size",
    "patch_size",
    "patch_stride",
    "depths",
    "num_attention_heads",
    "patch_embeds_hidden_size",
    "enable_fusion",
    "mlp_ratio",
    "qkv_bias",
)

VARIANTS: dict[str, dict[str, object]] = dict(MODELS["htsat"].variant_table)


class ClapMel(nn.Module):
    """CLAP's log-mel (Slaney mel scale and norm, power in dB) at any sample rate.

    At 48 kHz the constants are CLAP's; elsewhere the window keeps ~21 ms, the hop 10 ms
    and the top band edge is min(14 kHz, Nyquist), so the model sees the same time grid.
    """

    def __init__(self, sample_rate: int, n_mels: int, seconds: int) -> None:
        super().__init__()
        self.samples = seconds * sample_rate
        win = round(_WINDOW_SECONDS * sample_rate)
        # The filter bank is computed from constants, so it is built on the CPU even under
        # ``torch.device("meta")`` (`sousa-train models`), where torchaudio cannot compute it.
        with torch.device("cpu"):
            self.mel = MelSpectrogram(
                sample_rate,
                n_fft=1 << (win - 1).bit_length(),
                win_length=win,
                hop_length=sample_rate // 100,
                f_min=_FMIN,
                f_max=min(_FMAX, sample_rate / 2),
                n_mels=n_mels,
                norm="slaney",
                mel_scale="slaney",
            )
        self.to_db = AmplitudeToDB("power")

    def forward(self, wave: Tensor) -> Tensor:
        """``[B, N]`` -> ``[B, n_mels, samples // hop + 1]`` log-mel in dB of the repeat-padded
        clip (CLAP's ``repeatpad``: whole repeats, then zeros up to the canvas length)."""
        n = wave.shape[-1]
        if n > self.samples:
            raise ValueError(
                f"HTS-AT takes at most {self.samples // self.mel.sample_rate} s per example, got "
                f"{n / self.mel.sample_rate:.2f} s; lower loader.clip_seconds (evaluation then "
                "pools windows of that length over each clip)."
            )
        wave = F.pad(wave.repeat(1, self.samples // n), (0, self.samples % n))
        with torch.autocast(device_type=wave.device.type, enabled=False):
            return self.to_db(self.mel(wave.float()))


class HTSATNetwork(nn.Module):
    """Log-mel ``[B, F, T]`` -> logits: HTS-AT (which resizes T to its canvas), pooled output,
    Linear."""

    def __init__(self, audio: ClapAudioModel, num_classes: int) -> None:
        super().__init__()
        cfg = audio.config
        self.audio = audio
        width = int(cfg.patch_embeds_hidden_size * 2 ** (len(cfg.depths) - 1))
        self.head = nn.Linear(width, num_classes)

    def forward(self, features: Tensor) -> Tensor:
        pooled = self.audio(input_features=features.transpose(1, 2)[:, None]).pooler_output
        return self.head(pooled)


def canvas_seconds(config: ClapAudioConfig) -> int:
    """Whole seconds of audio whose frames fit the canvas: 10 s of 1024 frames for CLAP's
    256x256 image, as its feature extractor pads to (``max_length_s``)."""
    frames = config.spec_size * (config.spec_size // config.num_mel_bins)
    return (frames - 1) // 100


def variant_config(variant: str) -> ClapAudioConfig:
    if variant not in VARIANTS:
        raise ValueError(
            f"unknown HTS-AT variant {variant!r}; choose one of: {', '.join(VARIANTS)}"
        )
    return ClapAudioConfig(**VARIANTS[variant])


def build(
    *, variant: str, num_classes: int, pretrained: str | None, sample_rate: int
) -> AudioClassifier:
    """HTS-AT from random weights, or CLAP's audio tower from a hub id / local folder."""
    config = variant_config(variant)
    if pretrained is None:
        audio = ClapAudioModel(config)
    else:
        require_sample_rate("HTS-AT", pretrained, sample_rate, SAMPLE_RATE, "CLAP log-mel")
        # CLAP checkpoints keep the tower under ``audio_model.``, as this class does; loading
        # ClapAudioModel itself from them silently matches no key at all.
        audio = load_hub_model(
            ClapAudioModelWithProjection,
            pretrained,
            config,
            ARCHITECTURE,
            "HTS-AT",
            HUB_ID,
            optional=("audio_projection.",),
        ).audio_model
        log.info("HTS-AT %s: loaded %s", variant, pretrained)
    return AudioClassifier(
        ClapMel(sample_rate, config.num_mel_bins, canvas_seconds(config)),
        HTSATNetwork(audio, num_classes),
        sample_rate=sample_rate,
        num_classes=num_classes,
        head_name=HEAD_NAME,
    )
