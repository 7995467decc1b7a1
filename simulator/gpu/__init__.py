"""The GPU threadblock model: attention kernels (GPU mappings) on GPUs (presets), checked against measured runs.

Entry points: `simulate.simulate_attention` (one problem, one mapping, one GPU), `point.simulate_gpu_point`
(a design point with the spatial rows' keys), `validate.validate` (`cascade validate-gpu`),
`measure.measure` (`cascade measure-gpu`), `search.GpuTilingCost` (the mapper's batch cost function).
"""
