"""Feature frontends: a batch of waveforms ``[B, N]`` -> features ``[B, F, T]``.

Frontends are modules with buffers only (no trainable parameters), so they run over the
whole batch on the training device, and SpecAugment is applied to their output elsewhere.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torchaudio.compliance import kaldi

PREEMPHASIS = 0.97
LOG_OFFSET = 1e-5
# EfficientAT's "fast normalisation" of the log-mel: (x + 4.5) / 5.
NORM_SHIFT = 4.5
NORM_SCALE = 5.0


class EfficientATMel(nn.Module):
    """EfficientAT's log-mel frontend as it runs at evaluation time (no random band edges).

    Pre-emphasis, a centred Hann-window STFT, power, a Kaldi mel filterbank from
    ``fmin = 0`` to ``fmax = sample_rate // 2 - 1000`` (the reference's default band edge),
    ``log(x + 1e-5)`` and ``(x + 4.5) / 5``. At 32 kHz the constants are exactly the
    reference's (window 800, hop 320, n_fft 1024, 15 kHz top edge), which is what the official
    checkpoints were trained on. At another rate the window and hop keep 25 ms and 10 ms and
    n_fft is the next power of two (about 32 ms), so the time resolution the network sees is
    unchanged. Pre-emphasis drops one sample, so ``T = (N - 1) // hop + 1``.
    """

    def __init__(self, sample_rate: int = 32000, n_mels: int = 128) -> None:
        super().__init__()
        self.sample_rate = sample_rate
        self.n_mels = n_mels
        self.win_length = round(0.025 * sample_rate)
        self.hop_length = round(0.010 * sample_rate)
        self.n_fft = 1 << (self.win_length - 1).bit_length()
        self.fmin = 0.0
        self.fmax = float(sample_rate // 2 - 1000)
        banks, _ = kaldi.get_mel_banks(
            n_mels,
            self.n_fft,
            float(sample_rate),
            self.fmin,
            self.fmax,
            vtln_low=100.0,
            vtln_high=-500.0,
            vtln_warp_factor=1.0,
        )
        # Kaldi's banks cover n_fft // 2 bins; the STFT has one more (Nyquist), weighted 0.
        self.register_buffer("mel_basis", F.pad(banks, (0, 1)), persistent=False)
        self.register_buffer(
            "window", torch.hann_window(self.win_length, periodic=False), persistent=False
        )

    def forward(self, wave: Tensor) -> Tensor:
        """``[B, N]`` float waveforms -> ``[B, n_mels, (N - 1) // hop + 1]`` normalised log-mel."""
        # Mixed precision would run the STFT and mel product in half precision and lose the
        # quiet bands to the log, so the whole frontend stays in float32.
        with torch.autocast(device_type=wave.device.type, enabled=False):
            x = wave.float()
            x = x[:, 1:] - PREEMPHASIS * x[:, :-1]
            spec = torch.stft(
                x,
                self.n_fft,
                hop_length=self.hop_length,
                win_length=self.win_length,
                window=self.window,
                center=True,
                normalized=False,
                return_complex=True,
            )
            power = spec.real.square() + spec.imag.square()
            mel = torch.matmul(self.mel_basis, power)
            return ((mel + LOG_OFFSET).log() + NORM_SHIFT) / NORM_SCALE

    def extra_repr(self) -> str:
        return (
            f"sample_rate={self.sample_rate}, n_mels={self.n_mels}, n_fft={self.n_fft}, "
            f"win_length={self.win_length}, hop_length={self.hop_length}, "
            f"fmin={self.fmin:g}, fmax={self.fmax:g}"
        )
