"""YAML design sweeps: a spec expanded into points, run locally or on a dask cluster, results appended at once."""
