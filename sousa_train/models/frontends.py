"""Feature frontends: a batch of waveforms ``[B, N]`` -> features ``[B, F, T]``.

Frontends are modules with buffers only (no trainable parameters), so they run over the
whole batch on the training device, and SpecAugment is applied to their output elsewhere.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torchaudio.compliance import kaldi

PREEMPHASIS = 0.97
LOG_OFFSET = 1e-5
# EfficientAT's "fast normalisation" of the log-mel: (x + 4.5) / 5.
NORM_SHIFT = 4.5
NORM_SCALE = 5.0
# A frame of digital silence: log(0 + 1e-5), normalised.
SILENCE = (math.log(LOG_OFFSET) + NORM_SHIFT) / NORM_SCALE


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
            if torch.compiler.is_compiling() or x.shape[0] == 0:
                return self._logmel(x)
            return self._trimmed(x)

    def _logmel(self, x: Tensor) -> Tensor:
        """The log-mel of pre-emphasised ``x`` [B, N - 1], every frame computed."""
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

    def _trimmed(self, x: Tensor) -> Tensor:
        """:meth:`_logmel`'s figures at the cost of each row's audio alone.

        A batch of whole clips is zero-padded to its longest (SOUSA's run 2-20 s, so most
        of a 21 s window is padding). Each row's frames are computed only up to where its
        windows still reach a sample that is not zero (a frame and a half past it, so the
        reflected edge is zeros too, as in the whole row); every later frame is silence's
        constant, which is what a window of zeros gives. The export traces the plain path.
        """
        frames = x.shape[-1] // self.hop_length + 1
        sounding = x != 0
        last = x.shape[-1] - 1 - sounding.flip(-1).int().argmax(dim=-1)
        last = torch.where(sounding.any(dim=-1), last, -1)
        keep = (last + 2 + self.hop_length + self.n_fft // 2).clamp(max=x.shape[-1])
        if int(keep.min()) == x.shape[-1]:
            return self._logmel(x)
        out = x.new_full((x.shape[0], self.n_mels, frames), SILENCE)
        for row, length in enumerate(keep.tolist()):
            mel = self._logmel(x[row : row + 1, :length])[0]
            out[row, :, : mel.shape[-1]] = mel
        return out

    def extra_repr(self) -> str:
        return (
            f"sample_rate={self.sample_rate}, n_mels={self.n_mels}, n_fft={self.n_fft}, "
            f"win_length={self.win_length}, hop_length={self.hop_length}, "
            f"fmin={self.fmin:g}, fmax={self.fmax:g}"
        )
