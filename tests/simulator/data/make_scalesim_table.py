"""Make `scalesim_cycles.csv`: SCALE-Sim's own compute cycles for GEMMs on several arrays and dataflows.

The table is the reference `tests/simulator/test_scalesim_table.py` checks Cascade's SCALE-Sim-compatible
systolic timing (`simulator/spatial/kernels/systolic.py`) against, row by row, without SCALE-Sim installed.
SCALE-Sim is NOT a project dependency: this script runs only in a throwaway virtual environment outside
the repository, made with

    python3 -m venv /tmp/scalesim-venv
    /tmp/scalesim-venv/bin/pip install scalesim==3.0.0 "numpy<2.4"
    /tmp/scalesim-venv/bin/python tests/simulator/data/make_scalesim_table.py

(scalesim 3.0.0, the PyPI release of SCALE-Sim from Georgia Tech's SynergyLab; 2.0.2 gives the same
cycles. numpy < 2.4 because scalesim 3.0.0 calls int() on a one-element array, which NumPy 2.4 rejects.)
It takes under two minutes.

Each GEMM C[M,N] = A[M,K] @ B[K,N] is a SCALE-Sim GEMM-topology layer (`Layer, M, N, K,`), which
SCALE-Sim turns into an ifmap operand of M x K, a filter of K x N and an ofmap of M x N. The config uses
SCALE-Sim's bandwidth-estimation mode (InterfaceBandwidth: CALC), in which memory never stalls the array,
so the recorded `cycles` (SCALE-Sim's "Total Cycles" column of COMPUTE_REPORT.csv) are compute cycles;
the script checks that every layer reports 0 stall cycles.
"""

from __future__ import annotations

import csv
import tempfile
from importlib.metadata import version
from pathlib import Path

from scalesim.scale_sim import scalesim

OUTPUT = Path(__file__).with_name("scalesim_cycles.csv")
DATAFLOWS = ("os", "ws", "is")
# (rows, cols): square small and medium, a wide and a tall array (24 x 12: neither side a power of two)
ARRAYS = ((8, 8), (32, 32), (16, 64), (24, 12))
# (M, N, K): single elements, exact and off-by-one multiples of the array sides, primes, long and thin
# operands in each position, a reduction much longer and much shorter than the array
SHAPES = (
    (1, 1, 1), (1, 8, 8), (8, 1, 8), (8, 8, 1), (8, 8, 8), (7, 9, 5), (16, 16, 16), (17, 15, 3),
    (32, 32, 32), (31, 33, 29), (12, 40, 7), (40, 12, 64), (64, 64, 8), (3, 100, 50), (100, 3, 50),
    (50, 50, 100), (96, 24, 48), (24, 96, 48), (128, 128, 128), (129, 127, 65), (200, 30, 10),
    (30, 200, 10), (10, 30, 200), (64, 16, 256), (16, 64, 256), (256, 16, 64), (255, 33, 17),
    (48, 48, 48), (72, 72, 18), (5, 250, 2), (250, 5, 2), (2, 2, 250), (160, 96, 32), (96, 160, 32),
    (192, 64, 100), (113, 57, 41),
)

CONFIG = """[general]
run_name = cascade_table

[architecture_presets]
ArrayHeight: {rows}
ArrayWidth: {cols}
IfmapSramSzkB: 1024
FilterSramSzkB: 1024
OfmapSramSzkB: 1024
IfmapOffset: 0
FilterOffset: 10000000
OfmapOffset: 20000000
Bandwidth: 10
Dataflow: {dataflow}
MemoryBanks: 1
ReadRequestBuffer: 32
WriteRequestBuffer: 32

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: 10
IfmapSRAMBankNum: 10
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: 10
FilterSRAMBankNum: 10
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport: false
SparseRep: ellpack_block
OptimizedMapping: false
BlockSize: 8
RandomNumberGeneratorSeed: 40

[run_presets]
InterfaceBandwidth: CALC
UseRamulatorTrace: False
"""


def scalesim_cycles(rows: int, cols: int, dataflow: str) -> list[int]:
    """SCALE-Sim's compute cycles of every GEMM in SHAPES on a rows x cols array (one run, one layer each)."""
    with tempfile.TemporaryDirectory() as folder:
        config, topology, layout = (Path(folder) / name for name in ("array.cfg", "gemms.csv", "layout.csv"))
        config.write_text(CONFIG.format(rows=rows, cols=cols, dataflow=dataflow))
        topology.write_text("Layer, M, N, K,\n" + "".join(f"g{i}, {m}, {n}, {k},\n"
                                                        for i, (m, n, k) in enumerate(SHAPES)))
        layout.write_text("Layer,\n")  # no custom layouts; SCALE-Sim still opens the file
        run = scalesim(save_disk_space=True, verbose=False, config=str(config), topology=str(topology),
                       layout=str(layout), input_type_gemm=True)
        run.run_scale(top_path=folder)
        cycles = []
        for shape, layer in zip(SHAPES, run.runner.single_layer_sim_object_list, strict=True):
            _, total, stalls = layer.get_compute_report_items()[:3]
            assert stalls == 0, f"{shape} on {rows}x{cols} {dataflow}: {stalls} stall cycles"
            cycles.append(int(total))
        return cycles


def main() -> None:
    scalesim_version = version("scalesim")
    with OUTPUT.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["M", "N", "K", "rows", "cols", "dataflow", "cycles", "scalesim_version"])
        for rows, cols in ARRAYS:
            for dataflow in DATAFLOWS:
                for (m, n, k), cycles in zip(SHAPES, scalesim_cycles(rows, cols, dataflow), strict=True):
                    writer.writerow([m, n, k, rows, cols, dataflow, cycles, scalesim_version])
                print(f"{rows}x{cols} {dataflow}: {len(SHAPES)} GEMMs", flush=True)
    print(f"wrote {OUTPUT}")


if __name__ == "__main__":
    main()
