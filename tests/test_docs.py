"""Docs that are generated from code stay current."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest

from gateway.cli import capability_matrix
from gateway.config import load_config
from gateway.registry import default_registry

ROOT = Path(__file__).parent.parent


def test_capability_matrix_in_docs_is_current() -> None:
    assert capability_matrix.main([str(ROOT / "docs" / "providers.md"), "--check"]) == 0


def test_matrix_needs_its_markers() -> None:
    with pytest.raises(ValueError, match="markers"):
        capability_matrix.update_text("no markers here", [])


def test_example_configs_are_valid() -> None:
    env = {
        name: "placeholder-value-of-16+"
        for name in ("UIPATH_CLIENT_SECRET", "ORCHESTRY_CLIENT_SECRET", "CORE_TOKEN",
                     "GATEWAY_DEPLOY_KEY")
    }  # fmt: skip
    paths = sorted((ROOT / "examples").glob("*.toml"))
    assert [p.name for p in paths] == ["gateway.toml", "memory.toml"]
    for path in paths:
        load_config(path, env=env)


def test_configuration_doc_names_every_provider_key() -> None:
    text = (ROOT / "docs" / "configuration.md").read_text()
    for cls in default_registry().classes():
        section = text.split(f'### `provider = "{cls.kind}"`', 1)[1].split("###", 1)[0]
        for field in attrs.fields(cls.settings_type):
            assert f"| `{field.name}` |" in section, (cls.kind, field.name)
