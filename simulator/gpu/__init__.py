"""The GPU threadblock model: attention kernels (GPU mappings) on GPUs (presets), one problem at a time.

Entry point: `simulate.simulate_attention` (one problem, one mapping, one GPU -> a report). What is run with
it lives in `simulator.studies`: `point.run_point` (a design point), `gpu_search` (the mapper's batch cost
and tile search), `gpu_validation.validate` (`cascade validate-gpu`), `gpu_measure.harness`
(`cascade measure-gpu`).
"""
