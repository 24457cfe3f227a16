"""Kaldi filterbank frontend: the input of AST and BEATs, each with its own normalisation.

Both were pretrained on ``torchaudio.compliance.kaldi.fbank`` features (128 bins, 25 ms
frames every 10 ms); they differ in window, input scale and the mean/std they standardise
with. Those constants are part of the checkpoint's contract, so each model passes its own.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torchaudio.compliance import kaldi


class KaldiFbank(nn.Module):
    """``[B, N]`` waveforms -> ``[B, n_mels, T]`` standardised log-mel filterbanks.

    ``(fbank - mean) / (2 * std)``: both AST and BEATs divide by twice the data set's std.
    ``scale`` multiplies the waveform first (BEATs computes on 16-bit integer magnitudes).
    Kaldi works one waveform at a time, so the batch is a loop; it runs on the training device.
    """

    def __init__(
        self,
        sample_rate: int,
        *,
        mean: float,
        std: float,
        n_mels: int = 128,
        window: str = "povey",
        htk_compat: bool = False,
        scale: float = 1.0,
    ) -> None:
        super().__init__()
        self.sample_rate = sample_rate
        self.mean = mean
        self.std = std
        self.n_mels = n_mels
        self.window = window
        self.htk_compat = htk_compat
        self.scale = scale

    def forward(self, wave: Tensor) -> Tensor:
        # Log filterbanks lose quiet bands in half precision, as in every frontend here.
        with torch.autocast(device_type=wave.device.type, enabled=False):
            banks = [
                kaldi.fbank(
                    w[None].float() * self.scale,
                    sample_frequency=float(self.sample_rate),
                    num_mel_bins=self.n_mels,
                    frame_length=25.0,
                    frame_shift=10.0,
                    window_type=self.window,
                    htk_compat=self.htk_compat,
                    use_energy=False,
                    dither=0.0,
                )
                for w in wave
            ]
            fbank = torch.stack(banks).transpose(1, 2)
            return (fbank - self.mean) / (2.0 * self.std)

    def extra_repr(self) -> str:
        return (
            f"sample_rate={self.sample_rate}, n_mels={self.n_mels}, window={self.window!r}, "
            f"mean={self.mean}, std={self.std}, scale={self.scale:g}"
        )
