"""One compiled kernel per spatial kernel: the simulator (a lowered group's own, read-only extents) and the mapper
(extents built per batch) give the kernels arrays of the same types, so what the install step caches
(`cli.warm_kernels`, which runs the simulator) serves the mapper's first search too, without compiling (issue 14:
the first command after install in under 2 s). Run in a fresh process, which sees only what these two calls need."""

from __future__ import annotations

import json
import subprocess
import sys

SCRIPT = """
import json
from arch_models import load_arch
from einsum_cascade.library import library_cascade
from mappers.load import load_mapping
from mappers.search import SearchSettings
from simulator.spatial.kernels.costs import group_costs
from simulator.spatial.kernels.feasibility import group_feasibility
from simulator.spatial.kernels.schedule_distinct import _distinct_latency
from simulator.spatial.kernels.traffic import group_traffic
from simulator.studies.mapping_choice import simulate_family
from simulator.studies.spatial_search import search_mapping

shapes = {"B": 1, "H": 2, "M": 1000, "P": 1000, "E": 64, "F": 64}
for name in ("fusemax", "fusemax-window"):
    cascade = library_cascade(name)
    simulate_family(cascade, load_arch("fusemax"), load_mapping("fusemax"), {**shapes, "W": 64})
    search_mapping(cascade, load_arch("fusemax"), {**shapes, "W": 64}, "latency",
                   SearchSettings(strategy="random", evaluations=3000, seconds=None), progress=False, use_cache=False)
print(json.dumps({k.__name__: len(k.signatures) for k in (group_traffic, group_costs, group_feasibility,
                                                          _distinct_latency)}))
"""


def test_the_simulator_and_the_mapper_share_one_compiled_kernel_each():
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"group_traffic": 1, "group_costs": 1,
                                                                "group_feasibility": 1, "_distinct_latency": 1}
