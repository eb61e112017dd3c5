"""Figures and reports built from run folders and results (comparison grid, loss curves)."""
