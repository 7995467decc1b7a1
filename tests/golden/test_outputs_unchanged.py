"""The sampled commands' JSON outputs equal the stored ones exactly (floats to the last digit)."""

from __future__ import annotations

import json

import pytest

from golden.commands import COMMANDS, HERE, run


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_output_is_unchanged(name):
    assert run(name) == json.loads((HERE / f"{name}.json").read_text())
