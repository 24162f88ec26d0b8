"""Fast torch implementation of the four descriptor curves (CPU or GPU).

Computes the same quantities as ``metrics.descriptors`` (the librosa reference, one clip per
call) and stays batch-independent: every per-clip quantity that librosa derives from the whole
input (the power_to_db top_db floor, the CQT tuning estimate, the normalisation of chroma) is
computed per clip here too. On a CPU each pass is one clip, one pass per core side by side; on a
GPU a pass is 64 clips. The multirate CQT follows librosa's algorithm (filter banks built by
``librosa.filters.wavelet``, STFT with a rectangular window, halving the rate with soxr HQ
between octaves); the tuning estimate reimplements ``librosa.estimate_tuning`` (piptrack on a
2048-point STFT, median magnitude threshold, 0.01-bin histogram). Parity with the reference is
tested per descriptor and per score.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from bench.metrics.descriptors import HOP, LOUDNESS_EPS, N_FFT, PAD, SR, Descriptors

FAST_DESCRIPTOR_VERSION = "torch-fast-3"  # bump when the numbers this module gives change
TOP_DB = 80.0
AMIN = 1e-10
CQT_BPO = 36
CQT_OCTAVES = 7
CQT_BINS = CQT_BPO * CQT_OCTAVES
C1_HZ = 32.70319566257483
TUNING_N_FFT = 2048
MEL_RUNS = 8  # runs of adjacent mel filters, each a dense product on the bins it covers
CQT_FILTER_GROUPS = 3  # runs of adjacent filters per product: fewer zero multiplies, fewer calls


@lru_cache(maxsize=None)
def _static_matrices() -> dict[str, np.ndarray]:
    import librosa
    from scipy.fft import dct

    freqs = librosa.fft_frequencies(sr=SR, n_fft=N_FFT)
    with np.errstate(divide="ignore"):
        a_weights = 10.0 ** (librosa.A_weighting(freqs, min_db=-80.0) / 10.0)
    dim_map = np.linspace(0, 12, num=12, endpoint=False)
    scale = np.array([7.0 / 6, 7.0 / 6, 3.0 / 2, 3.0 / 2, 2.0 / 3, 2.0 / 3])
    v = np.multiply.outer(scale, dim_map)
    v[::2] -= 0.5
    phi = np.array([1, 1, 1, 1, 0.5, 0.5])[:, None] * np.cos(np.pi * v)
    return {
        "a_weights": a_weights,
        "mel128": librosa.filters.mel(sr=SR, n_fft=N_FFT, n_mels=128).astype(np.float64),
        "dct20": dct(np.eye(128), type=2, norm="ortho", axis=0)[:20],
        "cq_to_chroma": librosa.filters.cq_to_chroma(
            CQT_BINS, bins_per_octave=CQT_BPO, n_chroma=12, fmin=C1_HZ, dtype=np.float64
        ),
        "tonnetz": phi,
        "tuning_freqs": librosa.fft_frequencies(sr=SR, n_fft=TUNING_N_FFT),
    }


def _relative_bandwidth(freqs: np.ndarray) -> np.ndarray:
    """alpha_k = (2^(2/b_k) - 1) / (2^(2/b_k) + 1), b_k the local bins per octave."""
    logf = np.log2(freqs)
    bpo = np.empty_like(freqs)
    bpo[0] = 1 / (logf[1] - logf[0])
    bpo[-1] = 1 / (logf[-1] - logf[-2])
    bpo[1:-1] = 2 / (logf[2:] - logf[:-2])
    return (2.0 ** (2 / bpo) - 1) / (2.0 ** (2 / bpo) + 1)


@lru_cache(maxsize=128)
def _cqt_bank(tuning: float) -> tuple[np.ndarray, int]:
    """The frequency-domain CQT filter bank of one tuning value (in fractions of a bin, 0.01 steps)
    as librosa's multirate CQT applies it in each octave: [36, n_fft/2 + 1], divided by the square
    root of each filter's length at the full rate; and n_fft.

    librosa builds a bank per octave at that octave's sample rate and scales it by
    sqrt(sr / octave rate). The octaves' frequencies relative to their rates are the same, so once
    divided by the square roots of the lengths every octave's bank is the top octave's, to rounding
    (tests/test_fast_descriptors.py checks this against librosa's per-octave construction).
    """
    import librosa

    fmin = C1_HZ * 2.0 ** (tuning / CQT_BPO)
    freqs = fmin * 2.0 ** (np.arange(CQT_BINS) / CQT_BPO)
    alpha = _relative_bandwidth(freqs)
    lengths, _ = librosa.filters.wavelet_lengths(
        freqs=freqs, sr=SR, window="hann", filter_scale=1, gamma=0, alpha=alpha
    )
    top = slice(CQT_BINS - CQT_BPO, CQT_BINS)
    basis, top_lengths = librosa.filters.wavelet(
        freqs=freqs[top],
        sr=SR,
        filter_scale=1,
        norm=1,
        pad_fft=True,
        window="hann",
        gamma=0,
        alpha=alpha[top],
        dtype=np.complex128,
    )
    n_fft = basis.shape[1]
    basis = basis * (top_lengths[:, None] / float(n_fft))
    fft_basis = np.fft.fft(basis, n=n_fft, axis=1)[:, : n_fft // 2 + 1]
    fft_basis = librosa.util.sparsify_rows(fft_basis, quantile=0.01, dtype=np.complex128).toarray()
    return fft_basis / np.sqrt(lengths[top])[:, None], n_fft


@dataclass
class FastDescriptorExtractor:
    device: str = "cpu"
    float64: bool = False
    chunk: int = 1  # clips per pass on a CPU: small passes stay in cache (measured: 1 is best)
    workers: int | None = None  # CPU passes side by side, one torch thread each (default: cores, <= 8)

    def __post_init__(self):
        import torch

        self.torch = torch
        if self.workers is None:
            cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
            self.workers = min(8, cores)
        self.real = torch.float64 if self.float64 else torch.float32
        self.complex = torch.complex128 if self.float64 else torch.complex64
        self.numpy_real = np.float64 if self.float64 else np.float32
        m = _static_matrices()
        self._t = {
            k: torch.as_tensor(m[k], dtype=self.real, device=self.device)
            for k in ("dct20", "cq_to_chroma", "tonnetz")
        }
        # mel and A-weighted mean applied to interleaved (re^2, im^2) pairs, so |X|^2 is never formed
        self._mel_runs = _banded_runs(
            np.repeat(m["mel128"], 2, axis=1).T, MEL_RUNS, torch, self.real, self.device
        )
        self._a_weighted_mean = torch.as_tensor(
            np.repeat(m["a_weights"], 2) / m["a_weights"].size, dtype=self.real, device=self.device
        )
        self.window = torch.hann_window(N_FFT, periodic=True, dtype=self.real, device=self.device)
        self.tuning_window = torch.hann_window(
            TUNING_N_FFT, periodic=True, dtype=self.real, device=self.device
        )
        self._bases = {}
        in_band = np.flatnonzero((m["tuning_freqs"] >= 150.0) & (m["tuning_freqs"] < 4000.0))
        self._tuning_band = (int(in_band[0]), int(in_band[-1]) + 1)

    # -- helpers -----------------------------------------------------------------------------
    def _hann_spectrum_squares(self, x, padding: int):
        """Interleaved (re^2, im^2) of the Hann-windowed 1024-point spectra, hop 256, of ``x``
        zero-padded by ``padding`` samples each side: [B, frames, 1026]."""
        torch = self.torch
        frames = torch.nn.functional.pad(x, (padding, padding)).unfold(-1, N_FFT, HOP)
        spectrum = torch.fft.rfft(frames * self.window)
        return torch.view_as_real(spectrum).square().flatten(-2)

    def _mel(self, squares):
        """[B, frames, 128] mel power spectrogram from interleaved squares (banded products)."""
        return _apply_runs(squares, self._mel_runs, self.torch)

    def _power_to_db(self, power):
        """10 log10(max(1e-10, S)), floored at (its own clip's max - 80 dB)."""
        db = 10.0 * self.torch.log10(power.clamp_min(AMIN))
        peak = db.amax(dim=(-2, -1), keepdim=True)
        return self.torch.maximum(db, peak - TOP_DB)

    # -- descriptors -------------------------------------------------------------------------
    def padded_squares(self, y):
        """STFT squares of the clip zero-padded by 384 each side, center=False (loudness and MFCC)."""
        return self._hann_spectrum_squares(y, PAD)

    def loudness(self, y, squares=None):
        """10 log10(eps + mean_k A_k |X_k|^2) per frame."""
        squares = self.padded_squares(y) if squares is None else squares
        return 10.0 * self.torch.log10(LOUDNESS_EPS + squares @ self._a_weighted_mean)

    def onset(self, y):
        """Mean over mel bands of the positive dB difference from the previous frame (lag 1),
        librosa's onset_strength with centred frames."""
        db = self._power_to_db(self._mel(self._hann_spectrum_squares(y, N_FFT // 2)))  # [B, T, 128]
        flux = (db[:, 1:] - db[:, :-1]).clamp_min(0.0).mean(dim=-1)
        lag_and_centre = 1 + N_FFT // (2 * HOP)
        env = self.torch.nn.functional.pad(flux, (lag_and_centre, 0))[..., : db.shape[1]]
        return env[..., 1:]

    def mfcc(self, y, squares=None):
        squares = self.padded_squares(y) if squares is None else squares
        return (self._power_to_db(self._mel(squares)) @ self._t["dct20"].T).transpose(-2, -1)

    def tuning(self, y) -> list[float]:
        """librosa.estimate_tuning(y, sr, bins_per_octave=36) for each clip.

        piptrack on a 2048-point STFT (hop 512): local maxima of |X| above 0.1 x the frame's
        maximum between 150 and 4000 Hz, refined by parabolic interpolation; magnitudes above
        their median vote in a 0.01-bin histogram of the pitch's deviation from the 36-tone grid.
        """
        torch = self.torch
        # The spectrum and the peak picking in float32, the interpolation and the vote in float64:
        # on the 448 clips of the music21 test and train sets this gives librosa's float64 estimate
        # on every clip (tests/test_fast_descriptors.py checks the fixtures).
        half = TUNING_N_FFT // 2
        padded = torch.nn.functional.pad(y.to(torch.float32), (half, half))
        frames = padded.unfold(-1, TUNING_N_FFT, half // 2)
        spectrum = torch.fft.rfft(frames * self.tuning_window.to(torch.float32))  # [B, frames, bins]
        lo, hi = self._tuning_band
        if spectrum.device.type == "cpu":
            clip, row, left, centre, right = _piptrack_peaks(torch.view_as_real(spectrum).numpy(), lo, hi)
        else:
            clip, row, left, centre, right = self._piptrack_peaks_torch(spectrum, lo, hi)
        # parabolic interpolation at the peaks
        a = right + left - 2 * centre
        b = (right - left) / 2
        with np.errstate(divide="ignore", invalid="ignore"):
            shift = np.where(np.abs(b) < np.abs(a), -b / np.where(a == 0, 1.0, a), 0.0)
        pitch = (lo + row + shift) * (SR / TUNING_N_FFT)
        mag = centre + 0.25 * (right - left) * shift  # S + 0.5 * gradient * shift
        edges = np.linspace(-0.5, 0.5, 101)
        tunings = []
        for index in range(y.shape[0]):
            votes, clip_pitch = mag[clip == index], pitch[clip == index]
            if votes.size == 0:
                tunings.append(0.0)
                continue
            f = clip_pitch[votes >= np.median(votes)]
            f = f[f > 0]
            if f.size == 0:
                tunings.append(0.0)
                continue
            residual = np.mod(CQT_BPO * np.log2(f / (440.0 / 16)), 1.0)
            residual[residual >= 0.5] -= 1.0
            counts, _ = np.histogram(residual, edges)
            tunings.append(float(edges[np.argmax(counts)]))
        return tunings

    def _piptrack_peaks_torch(self, spectrum, lo: int, hi: int):
        """``_piptrack_peaks`` in torch ops (devices other than the CPU)."""
        power = _power(spectrum)
        ceiling = 0.1 * power.amax(dim=-1, keepdim=True).sqrt()
        s = power[..., lo - 1 : hi + 1].sqrt()  # the 150-4000 Hz bins and one neighbour each side
        gated = s * (s > ceiling)
        peaks = (gated[..., 1:-1] > gated[..., :-2]) & (gated[..., 1:-1] >= gated[..., 2:])
        clip, frame, row = peaks.nonzero(as_tuple=True)
        left, centre, right = (s[clip, frame, row + k].double().cpu().numpy() for k in range(3))
        return clip.cpu().numpy(), row.cpu().numpy(), left, centre, right

    def _tuning_bases(self, tuning: float):
        """One tuning value's CQT filter bank cut into ``CQT_FILTER_GROUPS`` runs of adjacent
        filters, each kept on the FFT bins it covers: ([(first bin, [bins, filters])], n_fft); cached."""
        key = round(tuning, 2)
        cached = self._bases.get(key)
        if cached is None:
            bank, n_fft = _cqt_bank(key)
            groups = []
            for filters in np.array_split(np.arange(CQT_BPO), CQT_FILTER_GROUPS):
                used = np.flatnonzero(np.abs(bank[filters]).sum(axis=0) > 0)
                start, stop = int(used[0]), int(used[-1]) + 1
                run = bank[filters, start:stop].T.copy()
                groups.append((start, self.torch.as_tensor(run, dtype=self.complex, device=self.device)))
            cached = self._bases[key] = (groups, n_fft)
        return cached

    def _batch_bases(self, tunings: list[float]):
        """Each clip's filter bank, run by run on the union of the clips' supports:
        ([(first bin, [B, bins, filters])], n_fft)."""
        per_clip = [self._tuning_bases(t) for t in tunings]
        n_ffts = {n_fft for _, n_fft in per_clip}
        if len(n_ffts) != 1:
            raise ValueError(f"tunings {tunings} need different CQT FFT sizes {sorted(n_ffts)}")
        batch = []
        for g in range(CQT_FILTER_GROUPS):
            runs = [groups[g] for groups, _ in per_clip]
            low = min(start for start, _ in runs)
            high = max(start + bank.shape[0] for start, bank in runs)
            bases = runs[0][1].new_zeros((len(tunings), high - low, runs[0][1].shape[-1]))
            for clip, (start, bank) in enumerate(runs):
                bases[clip, start - low : start - low + bank.shape[0]] = bank
            batch.append((low, bases))
        return batch, n_ffts.pop()

    def cqt_magnitude(self, y, tunings: list[float]):
        """|CQT| as [B, frames, 252] (bins from C1, 36 per octave, hop 256), each clip with its own tuning.

        librosa's multirate CQT: a rectangular-window STFT per octave (the signal halved with soxr
        HQ between octaves, the same frame count in each), then for each run of adjacent filters one
        product restricted to the FFT bins the run covers, each clip with the banks of its own tuning.
        """
        import soxr

        torch = self.torch
        groups, n_fft = self._batch_bases(tunings)
        lengths, hops = [y.shape[-1]], [HOP]
        for _ in range(CQT_OCTAVES - 1):
            halve = hops[-1] % 2 == 0
            hops.append(hops[-1] // 2 if halve else hops[-1])
            lengths.append(int(np.ceil(lengths[-1] / 2)) if halve else lengths[-1])
        frames = min(1 + n // h for n, h in zip(lengths, hops))
        responses = []
        signal = y
        for octave in range(CQT_OCTAVES):
            padded = torch.nn.functional.pad(signal, (n_fft // 2, n_fft // 2))
            spectrum = torch.fft.rfft(padded.unfold(-1, n_fft, hops[octave])[:, :frames])  # [B, frames, bins]
            responses.append(
                torch.cat(
                    [torch.bmm(spectrum[..., low : low + bases.shape[-2]], bases) for low, bases in groups],
                    dim=-1,
                )
            )
            if octave < CQT_OCTAVES - 1 and hops[octave + 1] != hops[octave]:
                halved = soxr.resample(signal.cpu().numpy().T.astype(self.numpy_real), 2, 1, quality="HQ").T
                halved = halved[..., : lengths[octave + 1]] * np.sqrt(2.0)
                signal = torch.as_tensor(np.ascontiguousarray(halved), dtype=self.real, device=y.device)
        magnitude = _power(torch.stack(responses, dim=1)).sqrt()  # [B, octaves, frames, 36], top octave first
        return magnitude.flip(1).transpose(1, 2).reshape(y.shape[0], frames, CQT_BINS)

    def tonnetz(self, y):
        """Tonal centroids of the L1-normalised chroma (librosa.feature.tonnetz), first frame dropped."""
        torch = self.torch
        padded = torch.nn.functional.pad(y, (HOP // 2, 0))
        cqt = self.cqt_magnitude(padded, self.tuning(padded))
        chroma = cqt @ self._t["cq_to_chroma"].T  # [B, frames, 12]
        chroma = chroma / _safe(chroma.abs().amax(dim=-1, keepdim=True))
        chroma = chroma / _safe(chroma.abs().sum(dim=-1, keepdim=True))
        return (chroma @ self._t["tonnetz"].T).transpose(-2, -1)[..., 1:]

    def __call__(self, clips) -> list[Descriptors]:
        """[B, T] clips -> one Descriptors per clip (numpy float64), cut to a common length."""
        clips = np.asarray(clips)
        if clips.ndim == 1:
            clips = clips[None]
        if clips.shape[-1] < N_FFT:
            raise ValueError(
                f"clip(s) {list(range(clips.shape[0]))} have {clips.shape[-1]} samples, shorter "
                f"than one {N_FFT}-sample window"
            )
        if not np.all(np.isfinite(clips)):
            bad = [i for i, c in enumerate(clips) if not np.all(np.isfinite(c))]
            raise ValueError(f"clip(s) {bad} contain NaN or infinite samples")
        # Every pass has the same shape (the last one padded with silence), so a clip's figures
        # are bitwise the same whatever else is in the batch.
        step = self.chunk if self.device == "cpu" else max(self.chunk, 64)
        parts = []
        for start in range(0, clips.shape[0], step):
            part = clips[start : start + step]
            if part.shape[0] < step:
                silence = np.zeros((step - part.shape[0],) + part.shape[1:], dtype=part.dtype)
                part = np.concatenate([part, silence])
            parts.append(part)
        if self.device == "cpu":
            described = self._describe_on_cpu(parts)
        else:
            described = [self._describe(p) for p in parts]
        return [d for part in described for d in part][: clips.shape[0]]

    def _describe_on_cpu(self, parts):
        """Every pass on one torch thread, ``workers`` passes side by side. Small passes gain little
        from torch's intra-op threads, and one thread per pass keeps each clip's figures independent
        of how many threads the machine has. torch's thread count is restored afterwards."""
        from concurrent.futures import ThreadPoolExecutor

        torch = self.torch
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            if self.workers > 1 and len(parts) > 1:
                with ThreadPoolExecutor(min(self.workers, len(parts))) as pool:
                    return list(pool.map(self._describe, parts))
            return [self._describe(p) for p in parts]
        finally:
            torch.set_num_threads(threads)

    def _describe(self, clips) -> list[Descriptors]:
        torch = self.torch
        with torch.no_grad():
            y = torch.as_tensor(clips, dtype=self.real, device=self.device)
            squares = self.padded_squares(y)
            curves = [self.loudness(y, squares), self.onset(y), self.mfcc(y, squares), self.tonnetz(y)]
        frames = min(c.shape[-1] for c in curves)
        loud, onset, mfcc, tonnetz = (c[..., :frames].double().cpu().numpy() for c in curves)
        return [Descriptors(loud[i], onset[i], mfcc[i], tonnetz[i]) for i in range(y.shape[0])]


@lru_cache(maxsize=None)
def _compiled_piptrack_peaks():
    import numba

    @numba.njit(cache=True, nogil=True)
    def peaks(spectrum, lo, hi):
        clips, frames, bins = spectrum.shape[0], spectrum.shape[1], spectrum.shape[2]
        width = hi - lo + 2
        clip_of = np.empty(clips * frames * (hi - lo), np.int64)
        row_of = np.empty_like(clip_of)
        values = np.empty((3, clip_of.size), np.float64)
        s = np.empty(width, np.float32)
        gated = np.empty(width, np.float32)
        n = 0
        for c in range(clips):
            for t in range(frames):
                peak_power = np.float32(0.0)
                for k in range(bins):
                    re, im = spectrum[c, t, k, 0], spectrum[c, t, k, 1]
                    power = re * re + im * im
                    if power > peak_power:
                        peak_power = power
                ceiling = np.float32(0.1) * np.sqrt(peak_power)
                for j in range(width):
                    k = lo - 1 + j
                    s[j] = np.sqrt(
                        spectrum[c, t, k, 0] * spectrum[c, t, k, 0]
                        + spectrum[c, t, k, 1] * spectrum[c, t, k, 1]
                    )
                    gated[j] = s[j] if s[j] > ceiling else np.float32(0.0)
                for j in range(1, width - 1):
                    if gated[j] > gated[j - 1] and gated[j] >= gated[j + 1]:
                        clip_of[n] = c
                        row_of[n] = j - 1
                        values[0, n] = s[j - 1]
                        values[1, n] = s[j]
                        values[2, n] = s[j + 1]
                        n += 1
        return clip_of[:n], row_of[:n], values[0, :n], values[1, :n], values[2, :n]

    return peaks


def _piptrack_peaks(spectrum: np.ndarray, lo: int, hi: int):
    """piptrack's peaks on [B, frames, bins, 2] (re, im) float32 spectra: bins in [lo, hi) whose
    |X| exceeds 0.1 x the frame's largest |X| and is a local maximum (> the lower neighbour, >= the
    upper one, both gated the same way). Returns clip, bin - lo, and |X| below, at and above
    each peak (float64). |X| is computed in float32 as sqrt(re^2 + im^2)."""
    return _compiled_piptrack_peaks()(np.ascontiguousarray(spectrum, dtype=np.float32), lo, hi)


def _power(spectrum):
    """|X|^2 without the square root of abs()."""
    return spectrum.real.square() + spectrum.imag.square()


def _banded_runs(matrix: np.ndarray, runs: int, torch, dtype, device) -> list[tuple[int, object]]:
    """Split a mostly banded [inputs, outputs] matrix into ``runs`` runs of adjacent output columns,
    each kept dense on the rows its columns use: [(first row, [rows, columns])]."""
    out = []
    for columns in np.array_split(np.arange(matrix.shape[1]), runs):
        used = np.flatnonzero(np.abs(matrix[:, columns]).sum(axis=1) > 0)
        first, last = (int(used[0]), int(used[-1]) + 1) if used.size else (0, 1)
        out.append((first, torch.as_tensor(matrix[first:last, columns], dtype=dtype, device=device)))
    return out


def _apply_runs(x, runs, torch):
    """x @ matrix for the runs of ``_banded_runs``."""
    return torch.cat([x[..., first : first + block.shape[0]] @ block for first, block in runs], dim=-1)


def _safe(norm):
    tiny = (
        np.finfo(np.float64).tiny
        if norm.dtype.is_floating_point and norm.element_size() == 8
        else np.finfo(np.float32).tiny
    )
    return norm.where(norm >= tiny, norm.new_ones(()))
