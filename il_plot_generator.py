"""Draw the figures of the impression-learning paper from saved result files.

Bredenberg, Lyo, Simoncelli & Savin, "Impression learning: Online
representation learning with synaptic plasticity", NeurIPS 2021.

Reads every result file of the selected mode in data/ (written by
impression_learning.py) and writes the mode's figure into figures/ as PNG
and PDF. The mode is ``mode`` in il_exp_params.py, or ``--mode``:

    python il_plot_generator.py                      # Figure 1 from standard-mode results
    python il_plot_generator.py --mode SNR           # Figure 2 (SNR, dimensionality and lr_optim results)
    python il_plot_generator.py --mode standard --data_dir=/scratch/il/data --figures_dir=/scratch/il/figures

With several seeds present, curves show mean +- SEM across them.
"""

import argparse
import sys
from pathlib import Path

if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from impression.config import StoreOnce, absolute_path, load_param_module  # noqa: E402
from impression.errors import ConfigError, UserError, run_reporting_errors  # noqa: E402
from impression.progress import configure_logging  # noqa: E402
from impression.storage import check_output_folder  # noqa: E402


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


def parse_arguments(argv):
    parser = argparse.ArgumentParser(
        description="Draw the figure of a mode from its result files in data/.", allow_abbrev=False
    )
    parser.add_argument("--mode", action=StoreOnce, help="mode whose figure to draw; default: mode in il_exp_params.py")
    parser.add_argument(
        "--data_dir",
        "--data-dir",
        action=StoreOnce,
        help="folder of the result files; default: data_dir in il_exp_params.py (data/)",
    )
    parser.add_argument(
        "--figures_dir",
        "--figures-dir",
        action=StoreOnce,
        help="folder the PNG and PDF files go to; default: figures_dir in il_exp_params.py (figures/)",
    )
    return parser.parse_args(argv)


def resolve_folders(args, module):
    """Return {'mode', 'data_dir', 'figures_dir'} of the figure to draw; raise UserError for invalid input."""
    mode = args.mode or module.mode
    if not isinstance(mode, str) or mode not in FIGURES:
        raise ConfigError(f"no figure for mode {mode!r}; modes with a figure: {', '.join(FIGURES)}")
    defaults = dict(module.COMMON, **module.PARAMS[mode])
    folders = {"mode": mode}
    for key in ("data_dir", "figures_dir"):
        value = getattr(args, key)
        value = defaults[key] if value is None else value
        if not str(value).strip():
            raise ConfigError(f"--{key}= is empty; give a folder")
        folders[key] = str(absolute_path(value))
    if not Path(folders["data_dir"]).is_dir():
        raise UserError(
            f"data folder not found: {folders['data_dir']}; run python impression_learning.py --mode {mode} "
            "first, or pass --data_dir=PATH"
        )
    check_output_folder(folders["figures_dir"], "figures_dir")
    return folders


def main(argv=None):
    configure_logging()
    args = parse_arguments(argv)
    return run_reporting_errors(lambda: draw_figure(args), "interrupted; the figure files may be incomplete")


def draw_figure(args):
    module = load_param_module()
    params = resolve_folders(args, module)
    FIGURES[params["mode"]](params, module)


if __name__ == "__main__":
    sys.exit(main())
