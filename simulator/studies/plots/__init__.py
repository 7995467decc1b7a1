"""Paper-ready figures (matplotlib, vector PDF plus PNG, two-column width)."""
