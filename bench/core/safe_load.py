"""Reading the checkpoint and weights files users pass, without running anything from them.

Every PyTorch file the harness reads goes through :func:`load_torch_file`: ``torch.load`` with
``weights_only=True``, so the pickle inside may hold tensors and plain data (dicts, lists, tuples,
numbers, strings, ``None``) and nothing else; the harness's own checkpoints (models/checkpoint_store.py,
models/training.py) and the adapters' weights (DAC, BigVGAN, Lin-CAE, VGGish) need no other type. A
file that asks for any other type (a class, a function: what a pickle uses to run code) is refused
with :class:`UnsafeFileError` naming the file and the type, before any of it runs. Damaged files
(empty, truncated, not a PyTorch file) raise :class:`UnreadableFileError`; :func:`require_keys` and
:func:`load_module_state` name a missing key or a tensor of the wrong shape. See docs/untrusted-files.md.
"""

from __future__ import annotations

import pickle
import re
import warnings
import zipfile
from pathlib import Path

REFUSED_FIX = (
    "use a file written by the harness (python -m bench train) or by the model's own release, "
    "saved as tensors and plain data (torch.save of a state dict)"
)


class UnreadableFileError(ValueError):
    """A file that cannot be used: ``str()`` is ``"<file>: <what is wrong>"``; ``fix`` says what to do."""

    def __init__(self, path, problem: str, fix: str = ""):
        self.path, self.problem, self.fix = Path(path), problem, fix
        super().__init__(f"{path}: {problem}")


class UnsafeFileError(UnreadableFileError):
    """A pickle that asks for types outside the allow-list (``types``: their dotted names)."""

    def __init__(self, path, types: list[str], what: str = "checkpoint"):
        self.types = tuple(types)
        shown = ", ".join(self.types)
        super().__init__(
            path,
            f"refused: the {what} asks for {shown} (a {what} holds tensors and plain "
            f"data only; loading it could run code)",
            REFUSED_FIX,
        )


_UNSAFE_PATTERNS = (
    re.compile(r"GLOBAL (\S+) was not an allowed global"),
    re.compile(r"unsupported GLOBAL (\S+) whose module"),
    re.compile(r"GLOBAL (\S+) whose module \S+ is blocked"),
)


def asked_types(message: str) -> list[str]:
    """The types an UnpicklingError of ``torch.load(weights_only=True)`` says the file asked for."""
    found = []
    for pattern in _UNSAFE_PATTERNS:
        found += [name.rstrip(".") for name in pattern.findall(message) if name.rstrip(".") not in found]
    return found


def _unsafe_types(path: Path, message: str) -> list[str]:
    """Every disallowed type the file names, found without unpickling it: torch's own listing for a
    zip checkpoint, else a scan of the pickle's opcodes; else those the error names."""
    import torch

    try:
        listed = torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
    except Exception:  # a legacy (non-zip) file, or one too damaged to list
        listed = _scanned_globals(path)
    return list(dict.fromkeys(listed)) or asked_types(message)


def _scanned_globals(path: Path) -> list[str]:
    """The globals (``module.name``) the pickles in ``path`` import and torch does not allow, read
    with ``pickletools.genops``, which decodes opcodes and runs none."""
    import pickletools

    try:
        from torch._weights_only_unpickler import _get_allowed_globals, _get_user_allowed_globals

        allowed = set(_get_allowed_globals()) | set(_get_user_allowed_globals())
    except ImportError:  # a torch without them: report every global
        allowed = set()
    names: list[str] = []
    strings: list[str] = []
    size = path.stat().st_size
    with open(path, "rb") as handle:
        while handle.tell() < size:
            try:
                for opcode, argument, _ in pickletools.genops(handle):
                    if opcode.name == "GLOBAL":
                        names.append(str(argument).replace(" ", "."))
                    elif opcode.name == "STACK_GLOBAL" and len(strings) >= 2:
                        names.append(f"{strings[-2]}.{strings[-1]}")
                    elif isinstance(argument, str):
                        strings.append(argument)
            except Exception:  # not (or no longer) a pickle: what was read so far is all there is
                break
    return [name for name in dict.fromkeys(names) if name not in allowed]


def _reason(error: Exception) -> str:
    """The informative part of a loading error, on one line."""
    text = str(error)
    if "WeightsUnpickler error:" in text:
        text = text.split("WeightsUnpickler error:", 1)[1].split("Check the documentation", 1)[0]
    text = " ".join(text.split())
    text = re.split(r"(?<=\.) ", text, maxsplit=1)[0] if len(text) > 160 else text
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def load_torch_file(path, what: str = "checkpoint", allowed: tuple = (), map_location="cpu"):
    """The object saved in ``path`` by ``torch.save``, read with ``weights_only=True`` (``allowed``:
    extra classes to accept, via ``torch.serialization.safe_globals``). Raises
    :class:`UnsafeFileError` for a file asking for any other type, :class:`UnreadableFileError`
    for a missing, empty, truncated or foreign file; both name ``path``."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise UnreadableFileError(path, f"no such {what} file")
    size = path.stat().st_size
    if size == 0:
        raise UnreadableFileError(path, f"empty file (0 bytes), not a {what}")
    try:
        with torch.serialization.safe_globals(list(allowed)), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's note on an unusual pickle protocol
            return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        types = _unsafe_types(path, str(error))
        if types:
            raise UnsafeFileError(path, types, what) from None
        raise UnreadableFileError(
            path, f"not a {what} of tensors and plain data ({_damage(path, error)})"
        ) from None
    except (
        RuntimeError,
        EOFError,
        ValueError,
        OSError,
        zipfile.BadZipFile,
        AttributeError,
        ImportError,
        IndexError,
        KeyError,
        TypeError,
    ) as error:
        raise UnreadableFileError(path, f"not a readable {what} ({_damage(path, error)})") from None


def _damage(path: Path, error: Exception) -> str:
    """What a file that failed to load looks like: truncated (a zip cut short, a pickle that ends
    early) or something else."""
    size = path.stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(4)
    if not head.startswith((b"PK", b"\x80")):  # neither torch.save's zip nor a pickle
        return f"not a PyTorch file: {size} bytes beginning {head!r}"
    truncated = (
        (head.startswith(b"PK") and not zipfile.is_zipfile(path))
        or isinstance(error, EOFError)
        or "truncated" in str(error)
        or "central directory" in str(error)
    )
    return f"{'truncated or damaged, ' if truncated else ''}{size} bytes; {_reason(error)}"


def require_keys(value, keys, path, where: str = "", what: str = "checkpoint") -> None:
    """Raise :class:`UnreadableFileError` unless ``value`` is a dict holding every key of ``keys``
    (``where``: the place in the file, e.g. ``"metadata"``)."""
    place = f"its {where}" if where else "it"
    if not isinstance(value, dict):
        raise UnreadableFileError(
            path,
            f"not a {what}: {place} holds a {type(value).__name__}, not a dict "
            f"with {', '.join(map(repr, keys))}",
        )
    missing = [key for key in keys if key not in value]
    if missing:
        inside = f" in {where}" if where else ""
        raise UnreadableFileError(path, f"not a {what}: missing key(s) {_listed(missing)}{inside}")


def state_mismatches(module, state: dict, allow_unexpected: bool = False) -> list[str]:
    """What keeps ``state`` from loading into ``module``: missing keys, keys the module lacks (unless
    ``allow_unexpected``), values that are not tensors, and tensors of another shape."""
    import torch

    own = module.state_dict()
    problems = []
    missing = [key for key in own if key not in state]
    if missing:
        problems.append(f"missing key(s) {_listed(missing)}")
    extra = [key for key in state if key not in own]
    if extra and not allow_unexpected:
        problems.append(f"unexpected key(s) {_listed(extra)}")
    for key, tensor in own.items():
        if key not in state:
            continue
        value = state[key]
        if not isinstance(value, torch.Tensor):
            problems.append(f"{key!r} is a {type(value).__name__}, not a tensor")
        elif tuple(value.shape) != tuple(tensor.shape):
            problems.append(
                f"{key!r} has shape {tuple(value.shape)}, the model expects {tuple(tensor.shape)}"
            )
    return problems


def _listed(keys: list[str], limit: int = 5) -> str:
    shown = ", ".join(map(repr, keys[:limit]))
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


def load_module_state(
    module, state, path, where: str = "state dict", allow_unexpected: bool = False, model: str = "the model"
) -> None:
    """``module.load_state_dict(state)``, or :class:`UnreadableFileError` naming ``path``, the key and
    the shapes (``where``: the part of the file the state came from; ``model``: what it must fit)."""
    if not isinstance(state, dict):
        raise UnreadableFileError(path, f"its {where} is a {type(state).__name__}, not a dict of tensors")
    problems = state_mismatches(module, state, allow_unexpected)
    if problems:
        raise UnreadableFileError(
            path,
            f"its {where} does not fit {model}: {'; '.join(problems[:6])}"
            + (f"; and {len(problems) - 6} more" if len(problems) > 6 else ""),
        )
    module.load_state_dict(state, strict=not allow_unexpected)


def check_torchscript_archive(path, what: str = "TorchScript export") -> None:
    """Raise :class:`UnreadableFileError` unless ``path`` is a TorchScript archive (a zip holding
    ``code/`` and ``constants.pkl``), so that only such a file reaches ``torch.jit.load``, torch's
    C++ reader, which runs no Python pickle (RAVE's export format: docs/untrusted-files.md)."""
    path = Path(path)
    if not path.is_file():
        raise UnreadableFileError(path, f"no such {what} file")
    size = path.stat().st_size
    if size == 0:
        raise UnreadableFileError(path, f"empty file (0 bytes), not a {what}")
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError) as error:
        with open(path, "rb") as handle:
            truncated = handle.read(2) == b"PK"
        state = "truncated or damaged" if truncated else "not a zip archive"
        raise UnreadableFileError(path, f"not a readable {what} ({state}, {size} bytes; {error})") from None
    has_code = any("/code/" in f"/{name}" for name in names)
    has_constants = any(name.rsplit("/", 1)[-1] == "constants.pkl" for name in names)
    if not (has_code and has_constants):
        kind = "a torch.save file" if any(name.endswith("data.pkl") for name in names) else "a zip archive"
        raise UnreadableFileError(path, f"not a {what}: {kind} without TorchScript code/ and constants.pkl")
