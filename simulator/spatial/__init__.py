"""The spatial-array cost model: lower (cascade, arch, mapping, shapes) to arrays, evaluate, report."""
