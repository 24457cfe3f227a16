"""Decoding real FLAC (the fixture's stereo 24-bit, files written here, broken ones) and windows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr
import torch
import torchaudio

from sousa_train.data import audio, flac
from sousa_train.data.reader import open_dataset
from tests.conftest import damage_audio


def test_stereo_24bit_44k_becomes_mono_16k_of_the_right_length(fixture_root: Path) -> None:
    path = open_dataset(fixture_root).clips("test")[0].path
    info = sf.info(path)
    assert (info.channels, info.samplerate, info.subtype) == (2, 44100, "PCM_24")
    wave = audio.load_audio(path, 16000)
    assert wave.dim() == 1 and wave.dtype == torch.float32
    assert wave.shape[0] == -(-info.frames * 16000 // 44100)  # ceil, as torchaudio resamples
    stereo, _ = sf.read(path, dtype="float32")
    mono = stereo.mean(1).astype(np.float32)
    expected = soxr.resample(mono, 44100, 16000, quality="HQ")
    assert np.allclose(wave.numpy(), expected, atol=1e-6)
    # soxr replaced torchaudio's sinc resampler (4x cheaper); both are band-limited, so on
    # real audio (peak 0.89) they agree within 5e-4 everywhere, ends included.
    other = torchaudio.functional.resample(torch.from_numpy(mono), 44100, 16000)
    assert torch.allclose(wave, other, atol=1e-3)


def test_channels_are_averaged_and_any_subtype_reads(tmp_path: Path) -> None:
    t = np.arange(8000) / 8000
    left = 0.5 * np.sin(2 * np.pi * 440 * t)
    for subtype in ("PCM_16", "PCM_24"):
        path = tmp_path / f"{subtype}.flac"
        sf.write(path, np.stack([left, 0.5 * left], 1), 8000, subtype=subtype)
        wave = audio.load_audio(path, 8000)  # same rate: no resampling
        assert wave.shape == (8000,)
        assert np.allclose(wave.numpy(), 0.75 * left, atol=1e-4)
    wav = tmp_path / "float.wav"
    sf.write(wav, left.astype(np.float32), 8000, subtype="FLOAT")
    assert np.allclose(audio.load_audio(wav, 8000).numpy(), left, atol=1e-6)


def test_resampling_keeps_the_passband_and_removes_what_cannot_be_represented(
    tmp_path: Path,
) -> None:
    """soxr "HQ": flat to 91 % of the new Nyquist frequency, tones above it gone."""
    t = np.arange(3 * 44100) / 44100
    for freq, low, high in ((1000, 0.999, 1.001), (7000, 0.998, 1.001), (10_000, 0.0, 1e-5)):
        tone = np.sin(2 * np.pi * freq * t).astype(np.float32)
        out = audio.resample(tone, 44100, 16000)[1000:-1000]  # away from the edges
        amplitude = float(np.sqrt(2 * np.mean(out.astype(np.float64) ** 2)))
        assert low <= amplitude <= high, (freq, amplitude)
    same = np.ones(100, np.float32)
    assert audio.resample(same, 16000, 16000) is same  # already at the rate: untouched
    sf.write(tmp_path / "low.flac", np.zeros(1600, np.float32) + 0.1, 16000)
    assert np.allclose(audio.load_audio(tmp_path / "low.flac", 16000).numpy(), 0.1, atol=1e-4)


def test_broken_files_raise_audio_error_naming_the_path(tmp_path: Path) -> None:
    paths = []
    for i in range(4):
        paths.append(tmp_path / f"c{i}.flac")
        sf.write(paths[-1], np.sin(np.arange(44100, dtype=np.float32)) * 0.3, 44100)
    broken = damage_audio(paths)
    reasons = {"missing": "not found", "empty": "empty file", "garbage": "cannot decode"}
    reasons["truncated"] = "damaged or truncated: "
    for kind, path in broken.items():
        with pytest.raises(audio.AudioError) as info:
            audio.load_audio(path, 16000)
        assert info.value.path == path and str(path) in str(info.value)
        assert reasons[kind] in info.value.reason
    silent = tmp_path / "silent.wav"  # FLAC cannot hold zero frames; WAV can
    sf.write(silent, np.zeros((0, 2), np.float32), 16000)
    with pytest.raises(audio.AudioError, match="no audio frames"):
        audio.load_audio(silent, 16000)


def test_flac_decodes_bit_for_bit_as_libsndfile_does(fixture_root: Path) -> None:
    """dr_flac (the fast path) against libFLAC through soundfile, on real 24-bit stereo."""
    for clip in open_dataset(fixture_root).all_clips():
        reference, rate = sf.read(clip.path, dtype="float32", always_2d=True)
        for data in (None, clip.path.read_bytes()):
            frames, got_rate, promised = flac.decode(clip.path, data)
            assert (got_rate, promised) == (rate, reference.shape[0])
            assert np.array_equal(frames, reference)


def test_flac_of_unknown_length_decodes_whole_and_damage_inside_is_an_error(
    fixture_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = open_dataset(fixture_root).clips("test")[0].path
    reference = audio.load_audio(path, 16000)
    data = bytearray(path.read_bytes())
    unknown = bytearray(data)
    unknown[21] &= 0xF0  # STREAMINFO's 36-bit total sample count, zero when not known
    unknown[22:26] = bytes(4)
    assert flac.decode(path, bytes(unknown))[2] is None
    assert torch.equal(audio.load_audio(path, 16000, bytes(unknown)), reference)
    monkeypatch.setattr(flac, "ONE_READ_FRAMES", 1000)  # a promised length read in chunks
    assert torch.equal(audio.load_audio(path, 16000), reference)
    monkeypatch.undo()
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0xFF  # one damaged frame mid-stream (its CRC fails)
    damaged = tmp_path / "damaged.flac"
    damaged.write_bytes(flipped)
    with pytest.raises(audio.AudioError, match=r"damaged or truncated: \d+ of \d+ frames"):
        audio.load_audio(damaged, 16000)


def test_other_formats_go_through_soundfile_with_the_same_checks(tmp_path: Path) -> None:
    nan = tmp_path / "nan.wav"
    sf.write(nan, np.array([0.1, np.nan, 0.2], np.float32), 8000, subtype="FLOAT")
    with pytest.raises(audio.AudioError, match="NaN or infinite"):
        audio.load_audio(nan, 8000)
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"RIFF" + np.random.default_rng(0).bytes(512))
    with pytest.raises(audio.AudioError, match="cannot decode") as info:
        audio.load_audio(garbage, 8000)
    assert info.value.path == garbage


def test_eval_windows_cover_a_long_clip_to_its_end() -> None:
    rate, window, hop = 16000, 3 * 16000, 16000 * 3 // 2
    wave = torch.arange(19 * rate + 123, dtype=torch.float32)  # the longest SOUSA clips
    windows = audio.eval_windows(wave, window, hop)
    assert windows.shape[1] == window
    assert windows[0, 0] == 0 and windows[-1, -1] == wave[-1]  # last window ends at the end
    starts = windows[:, 0].long()
    assert (starts[1:-1] - starts[:-2] == hop).all() and starts[-1] - starts[-2] <= hop
    assert torch.equal(torch.unique(windows), wave)  # every sample is in some window


def test_eval_windows_edge_cases() -> None:
    wave = torch.arange(10_000, dtype=torch.float32)
    exact = audio.eval_windows(wave, 4000, 3000)  # 6000 = 2 hops: no duplicate last window
    assert exact[:, 0].tolist() == [0, 3000, 6000]
    assert audio.eval_windows(wave, 10_000, 10).shape == (1, 10_000)
    short = audio.eval_windows(torch.ones(100), 3000, 1500)
    assert short.shape == (1, 3000) and short[0, :100].sum() == 100 and short[0, 100:].sum() == 0
    with pytest.raises(ValueError, match="must be positive"):
        audio.eval_windows(wave, 4000, 0)


def clicks(length: int, every: int) -> torch.Tensor:
    """A click train: one full-scale sample every ``every`` samples."""
    wave = torch.zeros(length)
    wave[every // 2 :: every] = 1.0
    return wave


@pytest.mark.parametrize("speed", [0.5, 1.25, 2.0])
def test_speed_crop_plays_strokes_faster_and_keeps_them_sharp(speed: float) -> None:
    num = 8000
    # A clip exactly as long as the window it is read from, so the crop starts at 0.
    wave = clicks(round(num * speed), 400)
    out = audio.speed_crop(wave, num, speed)
    assert out.shape == (num,)
    peaks = [i for i in range(1, num - 1) if out[i] > 0.3 and out[i] >= out[i - 1 : i + 2].max()]
    spacing = np.diff(peaks)
    assert len(peaks) == pytest.approx(len(wave.nonzero()), abs=1)
    assert np.all(np.abs(spacing - 400 / speed) <= 1.5)  # tempo scaled by exactly ``speed``
    # Each click stays a click: nearly all energy within 3 samples of it, not smeared out
    # over a frame as a phase vocoder smears it.
    near = torch.zeros(num, dtype=torch.bool)
    for p in peaks:
        near[p - 3 : p + 4] = True
    assert float((out[near] ** 2).sum() / (out**2).sum()) > 0.9
    padded = audio.speed_crop(torch.ones(100), 3000, 1.5)
    assert padded.shape == (3000,) and float(padded[200:].abs().max()) < 0.01


def test_random_crop_is_in_bounds_padded_and_seedable() -> None:
    wave = torch.arange(10_000, dtype=torch.float32)

    def starts(seed: int) -> list[int]:
        g = torch.Generator().manual_seed(seed)
        return [int(audio.random_crop(wave, 3000, g)[0]) for _ in range(50)]

    assert starts(0) == starts(0) and starts(0) != starts(1)
    assert len(set(starts(0))) > 10 and min(starts(0)) >= 0 and max(starts(0)) <= 7000
    crop = audio.random_crop(wave, 3000, torch.Generator().manual_seed(3))
    assert torch.equal(crop, torch.arange(crop[0], crop[0] + 3000, dtype=torch.float32))
    padded = audio.random_crop(torch.ones(100), 3000)
    assert padded.shape == (3000,) and padded[:100].sum() == 100 and padded[100:].sum() == 0
