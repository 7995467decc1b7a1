"""The engine users drive: cost models, the `cascade` CLI, sweeps and plots."""
