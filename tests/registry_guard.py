"""Every test finds the process-wide system registry (bench/core/registry.py ``SYSTEMS``) as the
session started it: systems a test registers (``@register``, a plugin folder and
``discover(force=True)``) are removed after it. Imported by tests/conftest.py."""

import pytest

from bench.core.registry import SYSTEMS


def registry_state() -> tuple:
    return dict(SYSTEMS.entries), dict(SYSTEMS.broken), SYSTEMS.discovered


def restore_registry(state: tuple) -> None:
    systems, broken, discovered = state
    SYSTEMS.entries.clear()
    SYSTEMS.entries.update(systems)
    SYSTEMS.broken.clear()
    SYSTEMS.broken.update(broken)
    SYSTEMS.discovered = discovered


@pytest.fixture(autouse=True)
def restore_system_registry():
    # the built-in systems register when their modules are first imported, which happens once per
    # process: discovering them before the snapshot keeps them in every test's registry
    SYSTEMS.discover()
    state = registry_state()
    yield
    restore_registry(state)
