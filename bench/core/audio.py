"""Audio input and the protocol's clip preparation (protocol.md section 1)."""

from __future__ import annotations

import os
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from bench.metrics.resampling import resample  # noqa: F401  (the harness's resampler)

SAMPLE_RATE = 22050
CLIP_SAMPLES = 131072
MIN_MEAN_POWER = 0.003
AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg", ".oga", ".aiff", ".aif")

RESAMPLER_ID = "kaiser-sinc-w64-r0.9476-b14.77"


class AudioError(ValueError):
    """An audio file or array that cannot be used; the message names the item, ``reason`` says
    what is wrong without the path (what a manifest records)."""

    def __init__(self, message: str, reason: str | None = None):
        super().__init__(message)
        self.reason = reason or message


# the soundfile (libsndfile) format of each suffix; a suffix whose format this libsndfile build
# lacks (MP3 before libsndfile 1.1) falls back to librosa / audioread
_SOUNDFILE_FORMATS = {
    ".wav": "WAV",
    ".flac": "FLAC",
    ".mp3": "MP3",
    ".ogg": "OGG",
    ".oga": "OGG",
    ".aiff": "AIFF",
    ".aif": "AIFF",
}
# libsndfile's words for data it cannot decode, which say nothing true about a file that exists
_MISLEADING = ("File does not exist or is not a regular file (possibly a pipe?).", "System error.")


def file_problem(path: Path) -> str | None:
    """Why ``path`` cannot even be opened as an audio file (None when it can be tried)."""
    if path.is_symlink() and not path.exists():
        return "is a dangling symbolic link (its target does not exist)"
    if not path.exists():
        return "file not found"
    if not path.is_file():
        return "is not a regular file"
    if path.stat().st_size == 0:
        return "is empty (0 bytes)"
    return None


@contextmanager
def _native_stderr_captured():
    """Collect what C libraries (mpg123's "Note: Illegal Audio-MPEG-Header ...") write to file
    descriptor 2 while decoding, so that it becomes part of a reason instead of noise."""
    notes: list[str] = []
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no file descriptor 2 to borrow: decode as is
        yield notes
        return
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield notes
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            notes.extend(
                line.strip() for line in sink.read().decode(errors="replace").splitlines() if line.strip()
            )


def _decode_reason(path: Path, error: Exception, notes: list[str]) -> str:
    detail = str(error).replace(f"Error opening {str(path)!r}: ", "").strip()
    if detail in _MISLEADING:
        detail = "the decoder found no valid audio data"
    fmt = _SOUNDFILE_FORMATS.get(path.suffix.lower(), path.suffix.lstrip(".").upper())
    reason = f"not decodable as {fmt} audio ({detail})"
    if notes:
        reason += f"; decoder notes: {' / '.join(dict.fromkeys(notes))}"
    return reason


def load_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """Read a file as float64 mono (channels averaged) and its sample rate."""
    import soundfile

    path = Path(path)
    problem = file_problem(path)
    if problem:
        raise AudioError(f"{path}: {problem}", problem)
    fmt = _SOUNDFILE_FORMATS.get(path.suffix.lower())
    try:
        with _native_stderr_captured() as notes:
            data, sr = soundfile.read(str(path), dtype="float64", always_2d=True)
        mono = data.mean(axis=1)
    except Exception as first_error:
        if fmt in soundfile.available_formats():
            reason = _decode_reason(path, first_error, notes)
            raise AudioError(f"{path}: {reason}", reason) from first_error
        mono, sr = _load_with_librosa(path, first_error)
    if mono.size == 0:
        raise AudioError(f"{path}: contains no samples", "contains no samples")
    if not np.all(np.isfinite(mono)):
        raise AudioError(f"{path}: contains NaN or infinite samples", "contains NaN or infinite samples")
    return mono, int(sr)


def _load_with_librosa(path: Path, first_error: Exception) -> tuple[np.ndarray, int]:
    """For a format this libsndfile build cannot read: librosa, through audioread."""
    import warnings

    import librosa

    try:
        with warnings.catch_warnings(), _native_stderr_captured() as notes:
            warnings.simplefilter("ignore")
            mono, sr = librosa.load(str(path), sr=None, mono=True, dtype=np.float64)
    except Exception as error:
        reason = _decode_reason(path, error, notes)
        raise AudioError(f"{path}: {reason} (libsndfile: {first_error})", reason) from first_error
    return mono, sr


def normalise_clip(x: np.ndarray) -> np.ndarray:
    """De-mean, then scale the peak to 1 (a silent clip stays zero)."""
    x = np.asarray(x, dtype=np.float64)
    x = x - x.mean()
    peak = np.abs(x).max()
    return x / peak if peak > 0 else x


def mean_power(x: np.ndarray) -> float:
    return float(np.mean(np.square(x, dtype=np.float64)))


def chunk_track(track: np.ndarray, length: int = CLIP_SAMPLES) -> list[np.ndarray]:
    """Non-overlapping chunks of ``length`` samples, each normalised; quiet ones dropped."""
    chunks = []
    for start in range(0, track.shape[-1] - length + 1, length):
        clip = normalise_clip(track[start : start + length])
        if mean_power(clip) >= MIN_MEAN_POWER:
            chunks.append(clip)
    return chunks


def no_clip_reason(track: np.ndarray, length: int = CLIP_SAMPLES) -> str:
    """Why ``chunk_track(track)`` gives no chunk: silence, too short, or every chunk too quiet."""
    track = np.asarray(track, dtype=np.float64)
    seconds = track.shape[-1] / SAMPLE_RATE
    if track.size == 0 or np.max(np.abs(track - track.mean())) == 0:
        return f"is silent (every sample of its {seconds:.2f} s is the same value)"
    if track.shape[-1] < length:
        return (
            f"is {seconds:.2f} s long ({track.shape[-1]} samples at {SAMPLE_RATE} Hz), shorter than one "
            f"clip ({length} samples, {length / SAMPLE_RATE:.2f} s)"
        )
    powers = [
        mean_power(normalise_clip(track[s : s + length]))
        for s in range(0, track.shape[-1] - length + 1, length)
    ]
    return (
        f"each of its {len(powers)} chunk(s) of {length} samples is below the mean-power threshold "
        f"{MIN_MEAN_POWER} after peak normalisation (loudest {max(powers):.2g}): too quiet or sparse"
    )


SILENCE_PEAK = 1e-6  # -120 dBFS


def silence_reason(x: np.ndarray) -> str | None:
    """ "is silent (...)" when no sample of ``x`` exceeds -120 dBFS; None otherwise."""
    x = np.asarray(x, dtype=np.float64)
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak < SILENCE_PEAK:
        if peak == 0:
            return "is silent (every sample is zero)"
        return f"is silent (peak {peak:.1e}, below -120 dBFS)"
    return None


def check_output(audio: np.ndarray, length: int = CLIP_SAMPLES) -> str | None:
    """Why a system output is unusable, or None when it is fine."""
    audio = np.asarray(audio)
    if audio.ndim != 1:
        return f"output has shape {audio.shape}, expected ({length},)"
    if audio.shape[0] != length:
        return f"output has {audio.shape[0]} samples, expected {length}"
    if not np.all(np.isfinite(audio)):
        return "output contains NaN or infinite samples"
    if np.max(np.abs(audio)) < 1e-6:
        return "output is silent"
    return None


def fit_length(x: np.ndarray, length: int) -> np.ndarray:
    """Trim or zero-pad the last axis to ``length``."""
    if x.shape[-1] >= length:
        return x[..., :length]
    return np.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, length - x.shape[-1])])
