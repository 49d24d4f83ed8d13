"""Impression learning: online representation learning with synaptic plasticity.

Reproduction of Bredenberg, Lyo, Simoncelli & Savin, NeurIPS 2021. The
top-level scripts (``impression_learning.py``, ``il_plot_generator.py``,
``il_backprop.py``, ``il_fsdd_preprocessing.py``) are the entry points; this
package holds the model, the learning rules, the compiled kernels, the
result files and the figures.
"""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
