"""A mapping the mapper writes is the same file in every run: no part of it follows the iteration order of a
set, which Python salts per process (PYTHONHASHSEED). Before, an earlier group's results were listed among a
later group's homes in set order, so the saved YAML of a split mapping changed from run to run."""

import os
import subprocess
import sys

SCRIPT = """
import hashlib, numpy as np
from arch_models import load_arch
from einsum_cascade.library import library_cascade
from mappers.dump import mapping_to_yaml
from mappers.space import SpatialMappingSpace
from workloads.zoo import attention_shapes, load_model
digest = hashlib.sha256()
space = SpatialMappingSpace(library_cascade("nsa"), load_arch("flat"), attention_shapes(load_model("bert"), 4096))
for structure in range(space.dimensions[0]):
    if space.structures[structure].grouping == "split":  # groups that read an earlier group's results
        genome = np.zeros(len(space.dimensions), dtype=np.int64)
        genome[0] = structure
        digest.update(mapping_to_yaml(space.decode(genome)).encode())
print(digest.hexdigest())
"""


def test_the_mappings_of_a_space_are_the_same_text_under_any_hash_seed():
    digests = set()
    for seed in ("1", "2"):
        done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True,
                              env={**os.environ, "PYTHONHASHSEED": seed})
        digests.add(done.stdout.strip())
    assert len(digests) == 1
