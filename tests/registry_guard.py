"""Every test finds the process-wide system registry (bench/registry.py ``_REGISTRY``) as the
session started it: systems a test registers (``@register``, a plugin folder and
``discover(force=True)``) are removed after it. Imported by tests/conftest.py."""
import pytest

from bench import registry


def registry_state() -> tuple:
    return dict(registry._REGISTRY), dict(registry._BROKEN), registry._DISCOVERED


def restore_registry(state: tuple) -> None:
    systems, broken, discovered = state
    registry._REGISTRY.clear()
    registry._REGISTRY.update(systems)
    registry._BROKEN.clear()
    registry._BROKEN.update(broken)
    registry._DISCOVERED = discovered


@pytest.fixture(autouse=True)
def restore_system_registry():
    # the built-in systems register when their modules are first imported, which happens once per
    # process: discovering them before the snapshot keeps them in every test's registry
    registry.discover()
    state = registry_state()
    yield
    restore_registry(state)
