"""The fault-injection suite at small size (`make faults` runs it at full size: 15 + 5 random kills and a
real tmpfs): a truncated results file, a full disk, a read-only results folder and one SIGKILL of a sweep, each
followed by a rerun whose results must equal a clean run's, with no process left behind."""

from __future__ import annotations

import random
from pathlib import Path

import fault_scenarios as faults
import pytest

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the process table from /proc")


SMALL = faults.SWEEP.replace("budget: 3000", "budget: 500").replace("arch.pe_dim: [64, 128]", "arch.pe_dim: [128]")


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("faults")
    faults.use_sweep(work, SMALL)  # 4 points
    return work


def test_a_truncated_results_file_is_repaired_by_the_rerun(work):
    assert faults.truncated(work, random.Random(0))


def test_a_full_disk_is_one_line_and_the_rerun_completes(work):
    log = faults.full_disk(work, tmpfs=False)  # the injected ENOSPC only; `make faults` adds a real tmpfs
    assert log == [{"fault": "full disk", "how": f"injected ENOSPC after {faults.ENOSPC_AFTER_LINES} lines",
                    "points_kept": 2}]  # ENOSPC came in the third point: two kept, none torn


def test_a_read_only_folder_is_one_line_and_the_rerun_completes(work):
    assert faults.read_only(work)


def test_a_sigkill_leaves_no_process_and_the_rerun_equals_a_clean_run(work):
    log = faults.kill(work, random.Random(0), kills=1)
    assert len(log) == 1
