"""Fixtures for tests against the xAI emulator, as a pytest plugin.

Register it with ``pytest_plugins = ["media_pipeline_tests.xai_fixtures"]`` (root conftest or a test module).

``xai_emulator_factory`` starts emulators on free loopback ports and stops them after the test; they share
one render cache for the session, so identical shots are encoded once however many tests make them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from media_pipeline.emulator.faults import Faults
from media_pipeline.emulator.server import XaiEmulator
from media_pipeline.emulator.service import EmulatorConfig
from media_pipeline_tests.xai_builders import EmulatorFactory

FAULT_FIELDS = {f.name for f in dataclasses.fields(Faults)}


@pytest.fixture(scope="session")
def xai_render_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One render cache for every emulator of the session."""
    return tmp_path_factory.mktemp("xai-renders")


@pytest.fixture
def xai_emulator_factory(xai_render_cache: Path) -> Iterator[EmulatorFactory]:
    """``make(**settings)``: a started emulator; settings are ``EmulatorConfig`` and ``Faults`` fields."""
    started: list[XaiEmulator] = []

    def make(**settings: Any) -> XaiEmulator:
        faults = Faults(**{k: settings.pop(k) for k in list(settings) if k in FAULT_FIELDS})
        settings.setdefault("latency_seconds", 0.1)
        emulator = XaiEmulator(EmulatorConfig(faults=faults, **settings), render_cache_dir=xai_render_cache)
        started.append(emulator.start())
        return emulator

    yield make
    for emulator in started:
        emulator.stop()


@pytest.fixture
def xai_emulator(xai_emulator_factory: EmulatorFactory) -> XaiEmulator:
    """An emulator with 0.1 s latency, no faults but the marker prompts, any key accepted."""
    return xai_emulator_factory()
