"""Hardware descriptions (spatial arrays, GPUs): YAML presets validated into frozen dataclasses."""
