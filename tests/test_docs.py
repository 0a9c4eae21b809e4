"""Docs that are generated from code stay current."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway import capability_matrix
from gateway.config import load_config

ROOT = Path(__file__).parent.parent


def test_capability_matrix_in_docs_is_current() -> None:
    assert capability_matrix.main([str(ROOT / "docs" / "providers.md"), "--check"]) == 0


def test_matrix_needs_its_markers() -> None:
    with pytest.raises(ValueError, match="markers"):
        capability_matrix.update_text("no markers here", [])


def test_example_configs_are_valid() -> None:
    for path in (ROOT / "examples").glob("*.toml"):
        load_config(path)
