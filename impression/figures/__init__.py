"""Figures of the paper, one module per figure, drawn from saved result files only."""
