"""Bailando's 438-d music features (docs/bailando.md §1), at any frame rate, cached.

Features at `fps` are extracted from audio resampled to `fps * 512` Hz with hop
512, so 60 FPS means 30720 Hz and the GPT's 7.5 FPS means 3840 Hz (a separate
extraction, not pooling: Bailando does the same).
"""

from __future__ import annotations

import hashlib
import logging
import os
import warnings
from pathlib import Path

import numpy as np

from ..utils.cache_entries import read_cache_entry, write_cache_entry
from ..utils.errors import DataFileError
from ..utils.outputs import file_sha256
from .layout import HOP_LENGTH, MOTION_FPS, MusicLayout, sample_rate_for_fps
from .paths import checked_folder_setting, e3d2_home

logger = logging.getLogger(__name__)

FEATURE_VERSION = 1
"""Bumped whenever the extraction changes, so stale cache entries are ignored."""

SILENCE_PEAK = 1e-5


def default_cache_dir() -> Path:
    """`$E3D2_CACHE/music`, else `<E3D2_HOME>/music`."""
    root = os.environ.get("E3D2_CACHE")
    return (checked_folder_setting(Path(root), "E3D2_CACHE") if root else e3d2_home()) / "music"


MIN_AUDIO_SECONDS = 1.0
"""Shorter audio has too few frames for the features' beat and delta windows."""


def load_audio(
    path: str | os.PathLike,
    sample_rate: float,
    offset: float = 0.0,
    duration: float | None = None,
) -> np.ndarray:
    """Mono float32 audio at `sample_rate`; wav, mp3, flac, ogg; any channels and rate.

    Raises `DataFileError` naming the file for a missing, empty, unreadable,
    truncated or silent file.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFileError(path, "audio file not found")
    if path.stat().st_size == 0:
        raise DataFileError(path, "audio file is empty (0 bytes)")
    _check_riff_complete(path)
    import librosa
    import soundfile

    try:
        # bytes: soundfile encodes a str path as strict UTF-8, which a non-UTF-8 name is not
        with warnings.catch_warnings(), soundfile.SoundFile(os.fsencode(path)) as f:
            warnings.simplefilter("ignore")
            native_sr, declared = f.samplerate, f.frames
            if declared <= 0 or native_sr <= 0:
                raise DataFileError(path, "audio file holds no samples")
            start = int(round(offset * native_sr))
            if offset < 0 or start >= declared:
                raise DataFileError(
                    path,
                    f"offset {offset:.2f} s is outside the {declared / native_sr:.2f} s of audio",
                )
            wanted = (
                declared - start
                if duration is None
                else min(declared - start, int(round(duration * native_sr)))
            )
            if start:
                f.seek(start)
            native = f.read(wanted, dtype="float32", always_2d=True)
    except DataFileError:
        raise
    except Exception as exc:  # soundfile raises its own error types
        detail = " ".join(str(exc).split())
        if "does not exist" in detail or "pipe" in detail:  # libsndfile's words for any bad file
            detail = "an unknown format, or a truncated or corrupt file"
        raise DataFileError(path, f"cannot be decoded as audio ({detail})") from None
    if len(native) < wanted:
        raise DataFileError(
            path,
            f"audio is truncated: the header promises {declared} samples, reading stopped at {start + len(native)}",
        )
    mono = native.mean(axis=1)
    if not np.isfinite(mono).all():
        raise DataFileError(path, "audio holds NaN or infinite samples")
    if len(mono) < MIN_AUDIO_SECONDS * native_sr:
        raise DataFileError(
            path,
            f"{len(mono) / native_sr:.2f} s of audio; at least {MIN_AUDIO_SECONDS:g} s is needed "
            "for music features",
        )
    if np.max(np.abs(mono), initial=0.0) < SILENCE_PEAK:
        raise DataFileError(path, "audio is silent (peak amplitude below 1e-5)")
    if float(native_sr) != float(sample_rate):
        mono = librosa.resample(mono, orig_sr=native_sr, target_sr=sample_rate, res_type="soxr_hq")
    return mono.astype(np.float32)


def _check_riff_complete(path: Path) -> None:
    """WAV files declare their data size; libsndfile silently reads a cut-off file, so check it."""
    with open(path, "rb") as f:
        header = f.read(12)
        if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
            return
        size = path.stat().st_size
        while True:
            chunk = f.read(8)
            if len(chunk) < 8:
                return
            chunk_id, chunk_size = chunk[:4], int.from_bytes(chunk[4:], "little")
            if chunk_id == b"data":
                available = size - f.tell()
                if chunk_size != 0xFFFFFFFF and chunk_size > available:
                    raise DataFileError(
                        path,
                        f"audio is truncated: the WAV header declares {chunk_size} data bytes, {available} present",
                    )
                return
            f.seek(chunk_size + (chunk_size & 1), 1)


def features_from_waveform(audio: np.ndarray, sample_rate: float) -> np.ndarray:
    """(T, 438) float32 features of mono audio, T = 1 + floor(len(audio) / 512)."""
    import librosa

    audio = np.asarray(audio, dtype=np.float32)
    sr = sample_rate
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # librosa warns about short signals and n_fft
        mel_db = librosa.power_to_db(librosa.feature.melspectrogram(y=audio, sr=sr), ref=np.max)
        mfcc = librosa.feature.mfcc(S=mel_db, n_mfcc=MusicLayout.N_MFCC)
        mfcc_delta = librosa.feature.delta(mfcc, width=3)
        harmonic, percussive = hpss(audio)
        n_octaves = 7 if sr == 30720 else 5
        chroma = librosa.feature.chroma_cqt(
            y=harmonic, sr=sr, n_chroma=MusicLayout.N_CHROMA, n_octaves=n_octaves
        )
        onset_env = librosa.onset.onset_strength(y=percussive, sr=sr, aggregate=np.median)
        _, beat_idx = librosa.beat.beat_track(onset_envelope=onset_env, sr=sr)
        beat_onehot = np.zeros_like(onset_env)
        beat_onehot[np.asarray(beat_idx, dtype=np.int64)] = 1.0
        tempogram = librosa.feature.tempogram(
            onset_envelope=onset_env,
            sr=sr,
            hop_length=HOP_LENGTH,
            win_length=MusicLayout.TEMPOGRAM_WIN,
        )
    n = 1 + len(audio) // HOP_LENGTH
    parts = [mfcc, mfcc_delta, chroma, onset_env[None], beat_onehot[None], tempogram]
    parts = [p[:, :n] for p in parts]
    if any(p.shape[1] != n for p in parts):
        raise RuntimeError(
            f"librosa returned feature lengths {[p.shape[1] for p in parts]}, expected {n}"
        )
    features = np.concatenate(parts, axis=0).T.astype(np.float32)
    assert features.shape[1] == MusicLayout.DIM
    return features


HPSS_KERNEL = 31
"""librosa's default median-filter width, in frames and in frequency bins."""


def median_filter(values: np.ndarray, width: int, axis: int, block: int = 1 << 22) -> np.ndarray:
    """`scipy.ndimage.median_filter(values, size=width along axis, mode="reflect")` of a 2-D array,
    equal to it bit for bit and about six times faster: np.partition over sliding windows, in
    blocks of about `block` window elements so long songs stay small in memory.

    Where the axis is shorter than the window the reflections overlap and scipy is called.
    """
    from scipy import ndimage

    axis = axis % values.ndim
    if values.ndim != 2 or values.shape[axis] < width or width % 2 == 0:
        size = [1] * values.ndim
        size[axis] = width
        return ndimage.median_filter(values, size=size, mode="reflect")
    half = width // 2
    pad = [(0, 0), (0, 0)]
    pad[axis] = (half, half)
    padded = np.pad(values, pad, mode="symmetric")
    out = np.empty_like(values)
    other = 1 - axis
    step = max(1, block // (width * values.shape[axis]))
    for start in range(0, values.shape[other], step):
        part = [slice(None), slice(None)]
        part[other] = slice(start, start + step)
        windows = np.lib.stride_tricks.sliding_window_view(padded[tuple(part)], width, axis=axis)
        out[tuple(part)] = np.partition(windows, half, axis=-1)[..., half]
    return out


def hpss(audio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`librosa.effects.hpss(audio)` with its defaults (n_fft 2048, kernel 31, power 2, margin
    1), equal to it bit for bit; its two median filters, most of the features' time, run as
    `median_filter`."""
    import librosa

    stft = librosa.stft(audio)
    magnitude, phase = librosa.magphase(stft)
    harmonic = median_filter(magnitude, HPSS_KERNEL, axis=-1)
    percussive = median_filter(magnitude, HPSS_KERNEL, axis=-2)
    parts = []
    for mask in (
        librosa.util.softmask(harmonic, percussive, power=2.0, split_zeros=True),
        librosa.util.softmask(percussive, harmonic, power=2.0, split_zeros=True),
    ):
        spectrum = (magnitude * mask) * phase
        parts.append(librosa.istft(spectrum, dtype=audio.dtype, length=audio.shape[-1]))
    return parts[0], parts[1]


def compile_feature_kernels() -> None:
    """Extract features of 2 s of noise once, so librosa's numba kernels are compiled, and in
    numba's on-disk cache, before worker processes start.

    Workers that compile at the same time write the same cache files; a worker that reads a
    half-written one segfaults, the file stays corrupt, and every later parallel run crashes
    with it (seen on fresh virtual environments, about one run in three).
    """
    sample_rate = sample_rate_for_fps(MOTION_FPS)
    noise = np.random.default_rng(0).standard_normal(2 * int(sample_rate)).astype(np.float32)
    features_from_waveform(0.1 * noise, sample_rate)


def music_features(
    path: str | os.PathLike,
    fps: float = MOTION_FPS,
    offset: float = 0.0,
    duration: float | None = None,
    cache_dir: str | os.PathLike | None | bool = None,
) -> np.ndarray:
    """(T, 438) features of an audio file at `fps`, cached on the file's content hash.

    `offset`/`duration` (seconds) crop the audio before extraction, so frame 0
    is the crop's start. `cache_dir=False` disables the cache; None uses
    `$E3D2_CACHE/music` (default `<E3D2_HOME>/music`, `~/.cache/e3d2_hf/music`).
    """
    path = Path(path)
    cache_path = None
    if cache_dir is not False:
        if not path.is_file():
            raise DataFileError(path, "audio file not found")
        root = default_cache_dir() if cache_dir in (None, True) else Path(cache_dir)
        # the key hashes the audio's bytes: renaming or touching a file keeps its entry
        key = f"{file_sha256(path)}-fps{fps:g}-off{offset:.6f}-dur{duration if duration is None else f'{duration:.6f}'}-v{FEATURE_VERSION}"
        cache_path = root / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.npz"
        if cache_path.is_file():
            cached = read_cache_entry(cache_path, key)
            if cached is not None and _music_shaped(cached.get("features")):
                return cached["features"]
            logger.warning("ignoring a damaged or foreign music cache entry %s", cache_path)
    audio = load_audio(path, sample_rate_for_fps(fps), offset=offset, duration=duration)
    features = features_from_waveform(audio, sample_rate_for_fps(fps))
    if cache_path is not None:
        write_cache_entry(cache_path, key, features=features)
    return features


def _music_shaped(features: np.ndarray | None) -> bool:
    return (
        features is not None
        and features.ndim == 2
        and features.shape[1] == MusicLayout.DIM
        and features.dtype == np.float32
    )


def beat_frames(features: np.ndarray) -> np.ndarray:
    """Frame indices of librosa beat_track beats (column 53 non-zero)."""
    return np.flatnonzero(np.asarray(features)[:, MusicLayout.BEAT] > 0).astype(np.int64)
