"""Attention algorithms as cascades of extended Einsums: language, validation, reference executor, analysis."""
