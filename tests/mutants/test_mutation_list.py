"""The mutation list stays applicable: each mutation's text occurs exactly once in its file."""

from __future__ import annotations

import importlib.util
from pathlib import Path


def test_every_mutation_names_text_that_occurs_once():
    spec = importlib.util.spec_from_file_location("mutants_run", Path(__file__).with_name("run.py"))
    run = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run)
    mutations = run.load_mutations()  # exits with the offending mutation otherwise
    assert len(mutations) >= 8 and all(m["find"] != m["replace"] for m in mutations)
