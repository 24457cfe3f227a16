"""FLAC decoding with dr_flac (miniaudio's binding), straight into a numpy array.

SOUSA is 24-bit FLAC, and decoding it is most of a first epoch's cost. dr_flac gives the same
samples as libFLAC (libsndfile's decoder: bit for bit on the real fixture, tested) in about
two thirds of the time, and reading into an array we own saves the copy that miniaudio's
high-level ``flac_read_*`` calls make. Other formats go to soundfile (:mod:`.audio`).
"""

from __future__ import annotations

import os
from pathlib import Path

import miniaudio
import numpy as np

MAGIC = b"fLaC"
ONE_READ_FRAMES = 1 << 24  # up to this many promised frames are read in one call
CHUNK_FRAMES = 1 << 16  # per read otherwise: an unknown or a huge (damaged?) promised length


def is_flac(path: Path, data: bytes | None = None) -> bool:
    """Whether the file (or ``data``, its bytes) starts with FLAC's magic number."""
    if data is not None:
        return data.startswith(MAGIC)
    with open(path, "rb") as fh:
        return fh.read(len(MAGIC)) == MAGIC


def decode(path: Path, data: bytes | None = None) -> tuple[np.ndarray, int, int | None]:
    """Every frame of a FLAC stream as float32 [frames, channels], its rate, and the frame
    count its header promises (None when the header leaves it unknown, as streamed encoders
    may). dr_flac drops a frame whose checksum fails and stops where the bytes end, so fewer
    frames than promised means damage.

    Raises ValueError when dr_flac cannot open the stream at all.
    """
    ffi, lib = miniaudio.ffi, miniaudio.lib
    if data is None:
        handle = lib.ma_dr_flac_open_file(os.fsencode(path), ffi.NULL)
    else:
        handle = lib.ma_dr_flac_open_memory(data, len(data), ffi.NULL)
    if handle == ffi.NULL:
        raise ValueError("not a FLAC stream (no valid STREAMINFO header)")
    try:
        channels, rate, promised = handle.channels, handle.sampleRate, handle.totalPCMFrameCount
        chunk = promised if 0 < promised <= ONE_READ_FRAMES else CHUNK_FRAMES
        parts, total = [], 0
        while not promised or total < promised:
            out = np.empty((chunk, channels), np.float32)
            got = lib.ma_dr_flac_read_pcm_frames_f32(handle, chunk, ffi.from_buffer("float[]", out))
            parts.append(out[:got])
            total += got
            if got < chunk:
                break
    finally:
        lib.ma_dr_flac_close(handle)
    frames = parts[0] if len(parts) == 1 else np.concatenate(parts)
    return frames, rate, promised or None
