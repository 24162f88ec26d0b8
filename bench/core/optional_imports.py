"""Importing packages whose unused parts import modules that cannot load here.

torchaudio's PyPI wheels do not load beside torch 2.13 (CPU), and descript-audiotools imports
torchaudio and TensorBoard at import time for features the harness never calls. While a package
is imported, :func:`placeholders` puts a stand-in for each such module into ``sys.modules`` of
this process only, and takes it out afterwards; a stand-in raises ImportError naming itself when
anything touches it. A module that does import is left alone, so the user's environment is never
changed.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import types


class _Placeholder(types.ModuleType):
    def __getattr__(self, attribute):
        if attribute.startswith("__"):
            raise AttributeError(attribute)
        if attribute[:1].isupper():  # a class imported by name, only raised on use
            return _unusable(f"{self.__name__}.{attribute}")
        raise ImportError(f"{self.__name__}.{attribute}: {self.__name__} does not load in this environment")


def _unusable(name: str):
    class Unusable:
        def __init__(self, *args, **kwargs):
            raise ImportError(f"{name}: not available in this environment")

    Unusable.__name__ = name.rsplit(".", 1)[-1]
    return Unusable


@contextlib.contextmanager
def placeholders(*module_names: str):
    installed = []
    for name in module_names:
        try:
            importlib.import_module(name)
        except Exception:
            for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
                del sys.modules[key]
            module = _Placeholder(name)
            sys.modules[name] = module
            installed.append((name, module))
    try:
        yield
    finally:
        for name, module in installed:
            if sys.modules.get(name) is module:
                del sys.modules[name]


def torchaudio_shim():
    return placeholders("torchaudio")
