"""The report's media: small audio files and the band-passed descriptor curves of an item.

Audio: MP3 at 64 kbit/s constant bit rate through soundfile when its libsndfile writes MP3
(``soundfile.available_formats()``; libsndfile >= 1.1), else 16-bit WAV. Every clip gets the same
-1 dB gain so that the encoder's reconstruction does not clip (outputs and references are peak 1).

Curves: what metrics/adherence.py compares, after metrics/bands.py ``band_pass`` in the item's band:
the loudness curve (Loud.), the onset envelope (Rhyth. compares its beat spectrum), the first
MFCC above c0 (Timb. is the MCD over all 20), the first tonnetz dimension (Harm. is the distance over
all 6); output against reference, one row per reference (two for a blend, each in its own band).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import soundfile

from bench.core.audio import SAMPLE_RATE
from bench.core.storage import atomic_write_bytes
from bench.metrics.bands import band_pass
from bench.metrics.descriptors import HOP, Descriptors
from bench.metrics.specs import SPECS

GAIN = 10 ** (-1 / 20)
MP3_KBPS = 64
# libsndfile maps compression level 0..1 linearly onto the MPEG-2 layer III bit rates 160..8 kbit/s
MP3_LEVEL = (160 - MP3_KBPS) / (160 - 8)
FRAME_RATE = SAMPLE_RATE / HOP  # descriptor frames per second
CURVES = (
    ("loudness", "loudness", None, "loudness (dB)"),
    ("rhythm", "onset", None, "onset envelope"),
    ("timbre", "mfcc", 1, "MFCC c1"),
    ("harmony", "tonnetz", 0, "tonnetz dim 1"),
)


def audio_format() -> tuple[str, str]:
    """(file suffix, description) of the format this machine's soundfile writes."""
    if "MP3" in soundfile.available_formats():
        return ".mp3", f"MP3 {MP3_KBPS} kbit/s CBR, {SAMPLE_RATE} Hz mono"
    return ".wav", f"16-bit PCM WAV, {SAMPLE_RATE} Hz mono (this libsndfile writes no MP3)"


def write_audio(path: Path, audio: np.ndarray) -> Path:
    """``path`` with the suffix of :func:`audio_format`; returns the path written."""
    suffix, _ = audio_format()
    path = path.with_suffix(suffix)
    samples = np.clip(np.asarray(audio, dtype=np.float64) * GAIN, -1.0, 1.0)
    buffer = io.BytesIO()
    if suffix == ".mp3":
        soundfile.write(
            buffer,
            samples,
            SAMPLE_RATE,
            format="MP3",
            subtype="MPEG_LAYER_III",
            compression_level=MP3_LEVEL,
            bitrate_mode="CONSTANT",
        )
    else:
        soundfile.write(buffer, samples, SAMPLE_RATE, format="WAV", subtype="PCM_16")
    atomic_write_bytes(path, buffer.getvalue())
    return path


def _curve(descriptors: Descriptors, name: str, row: int | None) -> np.ndarray:
    curve = descriptors.as_dict()[name]
    return curve if row is None else curve[row]


def curve_figure(
    path: Path, output: Descriptors, references: list[tuple[str, Descriptors, object]], scores: dict
):
    """One row per (label, reference descriptors, band); ``scores[(row, metric)]`` titles the panels."""
    from bench.reports.figure_files import pyplot

    plt = pyplot()
    figure, axes = plt.subplots(
        len(references), len(CURVES), figsize=(11, 2.1 * len(references)), squeeze=False
    )
    for r, (label, reference, band) in enumerate(references):
        for axis, (metric, name, row, ylabel) in zip(axes[r], CURVES):
            out_curve, ref_curve = _curve(output, name, row), _curve(reference, name, row)
            frames = min(out_curve.shape[-1], ref_curve.shape[-1])
            t = np.arange(frames) / FRAME_RATE
            axis.plot(t, band_pass(ref_curve[:frames], band), color="#555555", linewidth=1, label=label)
            axis.plot(t, band_pass(out_curve[:frames], band), color="#d62728", linewidth=1, label="output")
            score = scores.get((r, metric))
            shown = "n/a" if score is None else f"{score * SPECS[metric].scale:.3f}"
            axis.set_title(f"{SPECS[metric].label} {SPECS[metric].arrow} {shown}", fontsize=9)
            axis.set_ylabel(ylabel, fontsize=8)
            axis.tick_params(labelsize=7)
        axes[r][0].legend(fontsize=7, loc="upper right", title=f"band {band.name}", title_fontsize=7)
    axes[-1][0].set_xlabel("time (s)", fontsize=8)
    # fixed margins: tight_layout draws the figure once more, and this is the report's slowest step
    figure.subplots_adjust(
        left=0.06,
        right=0.99,
        bottom=0.22 if len(references) == 1 else 0.12,
        top=0.8 if len(references) == 1 else 0.9,
        wspace=0.35,
        hspace=0.45,
    )
    buffer = io.BytesIO()
    figure.savefig(buffer, dpi=80, format="png")
    plt.close(figure)
    atomic_write_bytes(path, _palette_png(buffer.getvalue()))
    return path


def _palette_png(data: bytes) -> bytes:
    """The PNG with a 32-colour palette (a line plot needs no more; about 3x smaller)."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        small = image.convert("RGB").quantize(colors=32, method=Image.Quantize.MEDIANCUT)
        out = io.BytesIO()
        small.save(out, format="PNG", optimize=True)
    return out.getvalue()
