"""Preset values, derived quantities and sweep overrides of the spatial-array models.

Golden numbers are derived by hand from REFERENCE.md §1 (FuseMax, MICRO 2024) and written out next
to each assertion; the derivation rules for numbers REFERENCE.md does not give are in the header of
arch_models/presets/fusemax.yaml.
"""

from __future__ import annotations

import math

import pytest
import yaml

from arch_models import arch_names, arch_to_spec, load_arch, parse_arch
from einsum_cascade.errors import SpecError
from einsum_cascade.ops import Op

MB = 2**20
GIB = 2**30


def test_every_preset_loads_and_round_trips_through_its_spec():
    assert arch_names() == ["flat", "flat-edge", "flat-unpipelined-exp", "fusemax", "unfused"]
    for name in arch_names():
        arch = load_arch(name)
        assert arch.name == name
        assert arch.source.endswith(f"{name}.yaml")
        assert parse_arch(yaml.safe_dump(arch_to_spec(arch)), arch.source) == arch
        assert hash(arch) == hash(load_arch(name))  # content hash keys caches


def test_fusemax_operators_and_energies():
    """Energies per action from the artifact's Accelergy tables (docs/accelergy/*-fusemax_ERT_summary.yaml,
    REFERENCE.md §1 "Energy per action"); exp and exp(a - b) from REFERENCE.md §1 "How the artifact's model
    charges time and energy": 6 MAC + 1 add, 7 cycles, the subtraction folded into the Taylor series."""
    arch = load_arch("fusemax")
    pe, lane = arch.array_2d, arch.array_1d
    assert (pe.rows, pe.cols, pe.pes) == (256, 256, 65536)
    assert (lane.rows, lane.cols, lane.pes) == (1, 256, 256)
    assert pe.cost("mac").energy_pj == 17.1645 and pe.cost("mac").cycles == 1
    for array in (pe, lane):
        for name in ("exp", "sub_exp"):
            assert array.cost(name).cycles == 7
            assert array.cost(name).energy_pj == pytest.approx(6 * 17.1645 + 8.3395)
            assert array.cost(name).composed_of == (("add", 1), ("mac", 6))
    assert lane.cost(Op.EXP) == pe.cost(Op.EXP)
    assert lane.cost("div").energy_pj == 36.251153 and lane.cost("div").cycles == 1
    assert pe.cost("max").energy_pj == 0.028036
    assert not pe.supports("div") and lane.supports(Op.DIV)
    assert (lane.register_entries, pe.register_entries) == (32, 16)
    for array in (pe, lane):  # REFERENCE.md §1: FuseMax 2D and 1D register files alike
        assert (array.register_read_pj, array.register_write_pj) == (0.653431, 0.56957)


def test_fusemax_memories():
    arch = load_arch("fusemax")
    assert arch.clock_hz == 940e6 and arch.word_bytes == 2
    assert arch.global_buffer.capacity_bytes == 16 * MB
    assert arch.staging_buffer.capacity_bytes == 8192 * 2
    assert arch.dram.bandwidth_bytes_per_s == 400 * GIB
    assert (arch.dram.access_words, arch.dram.read_pj, arch.dram.write_pj) == (4, 249.6, 249.6)  # per 64 bits
    assert arch.dram.accesses(1000) == 250
    assert arch.dram_bytes_per_cycle == pytest.approx(400 * GIB / 940e6) == pytest.approx(456.91, abs=0.01)
    # per 4096-bit row of 256 words, the same table as FLAT's 32 MB buffer (REFERENCE.md §1)
    buffer = arch.global_buffer
    assert (buffer.access_words, buffer.read_pj, buffer.write_pj) == (256, 484.97271, 451.30271)
    assert buffer.area_mm2 == 47.0
    assert buffer.accesses(512) == 2
    # staging rows: 484.97 * sqrt(16 KB / 16 MB) = 484.97 / 32
    assert arch.staging_buffer.read_pj == pytest.approx(484.97271 / 32, abs=1e-3)
    assert arch.staging_buffer.write_pj == pytest.approx(451.30271 / 32, abs=1e-3)


@pytest.mark.parametrize("side, published_mm2", [(16, 5.4), (32, 20.3), (64, 78.4), (128, 308), (256, 1221),
                                                 (512, 4885)])
def test_fusemax_area_matches_the_published_pareto_points(side, published_mm2):
    """REFERENCE.md §1 "Areas": whole FuseMax designs by 2D array size (BERT 256K Pareto sweep)."""
    arch = load_arch("fusemax", {"pe_dim": side})
    assert arch.compute_area_mm2 == pytest.approx(published_mm2, rel=0.05)
    assert arch.area_mm2 == pytest.approx(arch.compute_area_mm2 + 47 + 94 * 16384 / (32 * MB))


def test_lane_areas_come_from_components():
    register_entry_um2 = 58
    fusemax_lane = 1545 + 1030 + 49.3 + 23741 + 32 * register_entry_um2  # MAC, adder, max, divider, 32-entry RF
    flat_lane = 1545 + 1030 + 49.3 + 23741 + 8240 + 16 * register_entry_um2  # + exp unit, 16-entry RF
    assert load_arch("fusemax").array_1d.pe_area_um2 == pytest.approx(fusemax_lane)
    assert load_arch("flat").array_1d.pe_area_um2 == pytest.approx(flat_lane)
    assert load_arch("flat").array_2d.pe_area_um2 == pytest.approx(18630 - 49.3 - 12 * register_entry_um2)


def test_fusemax_and_flat_are_iso_area():
    """The paper compares FuseMax with FLAT at iso-area (REFERENCE.md §1 headline results)."""
    assert load_arch("fusemax").area_mm2 == pytest.approx(load_arch("flat").area_mm2, rel=0.001)
    assert load_arch("flat").area_mm2 == pytest.approx(1275.2, abs=0.1)


def test_flat_unfused_and_edge():
    flat, unfused, edge = load_arch("flat"), load_arch("unfused"), load_arch("flat-edge")
    assert flat.staging_buffer is None and unfused.staging_buffer is None
    assert flat.global_buffer.capacity_bytes == unfused.global_buffer.capacity_bytes == 32 * MB
    assert (flat.global_buffer.read_pj, flat.global_buffer.write_pj) == (484.97271, 451.30271)
    assert flat.global_buffer == unfused.global_buffer
    assert flat.array_2d.register_entries == unfused.array_2d.register_entries == 4
    # docs/accelergy/2d-flat_ERT_summary.yaml and 1d-flat_ERT_summary.yaml
    assert (flat.array_2d.register_read_pj, flat.array_2d.register_write_pj) == (0.291512, 0.225259)
    assert (flat.array_1d.register_read_pj, flat.array_1d.register_write_pj) == (0.385026, 0.336188)
    assert set(flat.array_2d.operators) == {"mac", "add", "sub"}
    assert flat.array_1d.cost("exp") == unfused.array_1d.cost("exp")
    assert flat.array_1d.cost("exp").cycles == 1 and flat.array_1d.cost("exp").energy_pj == 94.6475
    # exp(a - b): adder and exp unit pipeline, one element per cycle, energy of both
    assert flat.array_1d.cost("sub_exp").cycles == 1
    assert flat.array_1d.cost("sub_exp").energy_pj == pytest.approx(94.6475 + 8.3395)
    assert flat.array_1d.register_entries == 16
    softmax = ("max", "add", "sub", "exp", "div", "sub_exp")  # REFERENCE.md §1: "softmax ops 1/cycle"
    assert all(unfused.array_1d.operators[op].cycles == 1 for op in softmax)
    assert {"max", "add", "sub", "mul", "exp", "div"} <= set(unfused.array_1d.operators)
    assert (edge.array_2d.rows, edge.array_2d.cols, edge.array_1d.cols) == (32, 32, 32)
    assert edge.global_buffer.capacity_bytes == 512 * 1024
    assert edge.dram.bandwidth_bytes_per_s == 50 * GIB
    resized = flat.global_buffer.resized(512 * 1024)  # 484.97271 / 8 per row
    assert edge.global_buffer.read_pj == pytest.approx(resized.read_pj, abs=1e-4)
    assert edge.global_buffer.area_mm2 == pytest.approx(resized.area_mm2)


def test_overrides_for_sweeps():
    base = load_arch("fusemax")
    small = base.with_overrides(pe_dim=128)
    assert (small.array_2d.rows, small.array_2d.cols, small.array_1d.cols) == (128, 128, 128)
    assert small.name == "fusemax[pe_dim=128]" and base.array_2d.rows == 256  # the original is unchanged
    assert base.with_overrides(pe_dim=64, lanes=512).array_1d.cols == 512
    big = base.with_overrides(global_buffer_bytes=32 * MB)
    assert big.global_buffer.area_mm2 == pytest.approx(94)
    assert big.global_buffer.read_pj == pytest.approx(484.97271 * math.sqrt(2))  # area linear, energy ~ sqrt
    assert base.with_overrides(global_buffer_bytes=float(32 * MB)).global_buffer.capacity_bytes == 32 * MB
    fast = base.with_overrides(dram_bandwidth_bytes_per_s=800 * GIB, clock_hz=1.88e9)
    assert fast.dram_bytes_per_cycle == pytest.approx(base.dram_bytes_per_cycle)
    assert load_arch("fusemax", {"lanes": 64}).array_1d.cols == 64
    assert base.with_overrides() == base


def test_bad_overrides_name_the_allowed_keys():
    base = load_arch("fusemax")
    with pytest.raises(SpecError, match=r"unknown override 'pe_size'; allowed: pe_dim, lanes, global_buffer_bytes"):
        base.with_overrides(pe_size=64)
    for key, value in [("pe_dim", 0), ("pe_dim", 12.5), ("lanes", True), ("clock_hz", -1), ("clock_hz", "fast"),
                       ("dram_bandwidth_bytes_per_s", math.inf)]:
        with pytest.raises(SpecError, match=f"override {key} = .* must be a positive"):
            base.with_overrides(**{key: value})
    with pytest.raises(SpecError, match="overrides must be a mapping"):
        load_arch("fusemax", [("pe_dim", 64)])


def test_cost_of_an_unsupported_operator_names_what_the_array_has():
    with pytest.raises(SpecError, match=r"operator 'div' is not supported .* it has: mac, add, sub, max, exp"):
        load_arch("fusemax").array_2d.cost("div")


def test_unknown_preset_lists_the_presets():
    presets = "flat, flat-edge, flat-unpipelined-exp, fusemax, unfused"
    with pytest.raises(SpecError, match=f"no architecture named 'tpu'; presets: {presets}"):
        load_arch("tpu")
    with pytest.raises(SpecError, match="file not found"):
        load_arch("no/such/arch.yaml")


# docs/composed-operators.md: log = 1 MAC + 3 Newton steps of (exp + MAC + add); softplus = exp + add + log.
# Primitive energies from REFERENCE.md §1 "Energy per action": MAC 17.1645, add 8.3395, exp unit 94.6475 pJ.
MAC, ADD, EXP_UNIT = 17.1645, 8.3395, 94.6475
TAYLOR_EXP = (6, 1)  # MACs and adds of the Taylor exp on a MAC-only array


@pytest.mark.parametrize("preset", ["flat", "flat-edge", "flat-unpipelined-exp"])
def test_log_and_softplus_on_a_lane_with_an_exp_unit(preset):
    lane = load_arch(preset).array_1d
    log_parts = {"exp": 3, "mac": 1 + 3, "add": 3}
    softplus_parts = {"exp": 1 + 3, "mac": 4, "add": 1 + 3}
    for name, parts in (("log", log_parts), ("softplus", softplus_parts)):
        assert lane.cost(name).cycles == sum(parts.values())
        assert lane.cost(name).energy_pj == pytest.approx(parts["exp"] * EXP_UNIT + parts["mac"] * MAC
                                                           + parts["add"] * ADD)


def test_log_and_softplus_on_fusemax_mac_only_arrays():
    macs, adds = TAYLOR_EXP
    log = (1 + 3 * (macs + 1), 3 * (adds + 1))  # (MACs, adds): the start, then 3 x (exp + MAC + add)
    softplus = (macs + log[0], adds + 1 + log[1])
    assert (log, softplus) == ((22, 6), (28, 8))
    arch = load_arch("fusemax")
    for array in (arch.array_2d, arch.array_1d):
        for name, (n_mac, n_add) in (("log", log), ("softplus", softplus)):
            assert array.cost(name).cycles == n_mac + n_add
            assert array.cost(name).energy_pj == pytest.approx(n_mac * MAC + n_add * ADD)
