"""The family tie-break of `simulate_family` (docs/fusemax-deviations.md §7 and §8): of a mapping family's variants
the fastest is taken, but every variant within TIE_TOLERANCE = 0.5% of the fastest latency ties with it, and
the lower energy breaks the tie. Variants are crafted reports (only latency and energy matter to the choice),
returned by a stand-in for the model's `simulate`."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

import simulator.studies.mapping_choice as choice_module
from mappers.search import TIE_TOLERANCE
from simulator.spatial.lower import CapacityRejected, MappingRejected


def pick(monkeypatch, variants: dict[str, tuple[float, float] | MappingRejected]) -> str:
    """Name of the variant `simulate_family` keeps; `variants`: name -> (latency in s, energy in pJ) or a rejection."""

    def one(cascade, arch, mapping, shapes, design, timing, dataflow, part_sizes):
        outcome = variants[mapping.name]
        if isinstance(outcome, MappingRejected):
            raise outcome
        latency, energy = outcome
        return SimpleNamespace(name=mapping.name, latency_s=latency, energy_pj=energy)

    monkeypatch.setattr(choice_module, "simulate", one)
    family = SimpleNamespace(name="family", source="",
                             family=lambda: tuple(SimpleNamespace(name=n, groups=()) for n in variants))
    return choice_module.simulate_family(None, None, family, {}).name


def test_the_tolerance_is_half_a_percent():
    assert TIE_TOLERANCE == 0.005  # docs/fusemax-deviations.md §7: "Variants within 0.5% latency"


@pytest.mark.parametrize("order", [("fast", "frugal"), ("frugal", "fast")])
def test_within_the_tolerance_the_lower_energy_wins(monkeypatch, order):
    # frugal is 0.4% slower (inside 0.5%) and uses half the energy
    variants = {"fast": (1.000, 10.0), "frugal": (1.004, 5.0)}
    assert pick(monkeypatch, {name: variants[name] for name in order}) == "frugal"


@pytest.mark.parametrize("order", [("fast", "frugal"), ("frugal", "fast")])
def test_outside_the_tolerance_the_faster_wins(monkeypatch, order):
    # frugal is 0.6% slower (outside 0.5%): its lower energy does not matter
    variants = {"fast": (1.000, 10.0), "frugal": (1.006, 5.0)}
    assert pick(monkeypatch, {name: variants[name] for name in order}) == "fast"


def test_exactly_at_the_tolerance_is_a_tie(monkeypatch):
    assert pick(monkeypatch, {"fast": (2.0, 10.0), "frugal": (2.0 * (1 + TIE_TOLERANCE), 5.0)}) == "frugal"


def test_the_tolerance_is_measured_from_the_fastest_not_chained(monkeypatch):
    # middle is within 0.5% of fast, slow within 0.5% of middle but 0.8% behind fast: slow is out, and of the
    # two that tie the lower energy (middle) wins
    variants = {"fast": (1.000, 10.0), "middle": (1.004, 8.0), "slow": (1.008, 1.0)}
    assert pick(monkeypatch, variants) == "middle"


def test_within_the_tolerance_a_faster_variant_with_less_energy_still_wins(monkeypatch):
    assert pick(monkeypatch, {"fast": (1.000, 5.0), "slower": (1.003, 10.0)}) == "fast"


def test_rejected_variants_are_skipped(monkeypatch):
    variants = {"overflows": CapacityRejected("does not fit", source="family"), "fits": (1.0, 10.0)}
    assert pick(monkeypatch, variants) == "fits"
