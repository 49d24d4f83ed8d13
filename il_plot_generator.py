"""Draw the figures of the impression-learning paper from saved result files.

Bredenberg, Lyo, Simoncelli & Savin, "Impression learning: Online
representation learning with synaptic plasticity", NeurIPS 2021.

Reads every result file of the selected mode in data/ (written by
impression_learning.py) and writes the mode's figure into figures/ as PNG
and PDF. The mode is ``mode`` in il_exp_params.py, or ``--mode``:

    python il_plot_generator.py                      # Figure 1 from standard-mode results
    python il_plot_generator.py --mode SNR           # Figure 2 (SNR, dimensionality and lr_optim results)
    python il_plot_generator.py --mode standard --data_dir=/scratch/il/data

With several seeds present, curves show mean +- SEM across them.
"""

import sys
from pathlib import Path

if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from impression.config import build_parser, load_param_module, resolve_params, split_overrides  # noqa: E402
from impression.errors import ConfigError, UserError  # noqa: E402
from impression.progress import configure_logging  # noqa: E402


def draw_figure1(params, module):
    from impression.figures import fig1

    return fig1.draw(params["data_dir"], params["figures_dir"], mode=params["mode"])


def draw_figure2(params, module):
    """Draw Figure 2 with the corrected REINFORCE rule, and with the authors' rule when its files exist."""
    from impression.figures import fig2
    from impression.figures.common import find_results

    paths = fig2.draw(params["data_dir"], params["figures_dir"], "corrected")
    original_modes = ("SNR", "dimensionality", "lr_optim")
    if any(find_results(params["data_dir"], mode, "original") for mode in original_modes):
        paths += fig2.draw(params["data_dir"], params["figures_dir"], "original")
    return paths


def draw_figure3(params, module):
    from impression.figures import fig3

    return fig3.draw(params["data_dir"], params["figures_dir"], module.ARRAY_RANGE["switch_period"])


def draw_figure4(params, module):
    from impression.figures import fig4

    return fig4.draw(params["data_dir"], params["figures_dir"])


# Mode name -> function that takes the resolved params and draws that mode's figure.
FIGURES = {
    "standard": draw_figure1,
    "SNR": draw_figure2,
    "dimensionality": draw_figure2,
    "lr_optim": draw_figure2,
    "switch_period": draw_figure3,
    "Vocal_Digits": draw_figure4,
}


def main(argv=None):
    configure_logging()
    parser = build_parser("Draw the figure of a mode from its result files in data/.")
    args, rest = parser.parse_known_args(argv)
    try:
        module = load_param_module()
        mode = args.mode or module.mode
        params = resolve_params(mode, args.array_num, args.seed, split_overrides(rest), module)
        if mode not in FIGURES:
            raise ConfigError(f"no figure for mode {mode!r} yet; modes with a figure: {', '.join(FIGURES)}")
        FIGURES[mode](params, module)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
