"""End-to-end fixtures."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.e2e.up_support import left_behind


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "data"
    yield path
    # Whatever a failed run left, so that it does not outlive the test.
    for line in left_behind(path):
        with contextlib.suppress(psutil.Error, ValueError):
            psutil.Process(int(line.split()[0])).kill()
