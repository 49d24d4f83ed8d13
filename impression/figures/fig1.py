"""Figure 1: impression learning on the synthetic latent process (standard mode).

Panels: (a) test loss through training, mean +- SEM over the seeds present;
(b) input x[1] over test steps 0-199, wake prediction W_out r against the
truth; (c) every input dimension, truth against prediction, with the
identity line; (d) autocorrelation over 80 lags of latent unit r[0],
inferred (wake) and generated (deep sleep), and of the true latent z[0];
(e) latent unit r[1] over steps 0-399, wake only against alternating phases.
Unit and input indices are 0-based array indices. Panels (b)-(e) show the
run with the lowest array index and seed.

Every result file read must hold a run of the mode drawn (UserError
otherwise), and a warning names any parameter in which the averaged runs
differ.
"""

import matplotlib.pyplot as plt
import numpy as np

from impression.errors import UserError
from impression.figures.common import (
    autocorrelation,
    load_results,
    mean_sem,
    report_differing_params,
    save_figure,
    set_loss_scale,
)
from impression.progress import log, plural

MAX_SCATTER_POINTS = 20_000  # points drawn in panel (c); more only slow the PDF down
INPUT_SHOWN = 1  # 0-based input dimension of panel (b)
AUTOCORRELATION_UNIT = 0  # 0-based latent unit (and true latent) of panel (d)
ALTERNATION_UNIT = 1  # 0-based latent unit of panel (e)


def draw_loss_panel(axis, results):
    # Runs with different n_snapshots have curves of different lengths; the
    # parameter warning names them, and the curves are cut to the shortest.
    length = min(len(result["test_loss"]) for result in results)
    curves = np.array([result["test_loss"][:length] for result in results])
    steps = np.asarray(results[0]["snapshot_steps"])[:length]
    mean, sem = mean_sem(curves)
    label = f"mean ± SEM, {plural(len(results), 'seed')}" if len(results) > 1 else f"seed {results[0]['seed']}"
    axis.plot(steps, mean, color="k", label=label)
    axis.fill_between(steps, mean - sem, mean + sem, color="k", alpha=0.25, linewidth=0)
    set_loss_scale(axis, mean)
    axis.set_xlabel("training step")
    axis.set_ylabel("test loss")
    axis.set_title("a  loss through training", loc="left")
    axis.legend(frameon=False)


def draw_prediction_panels(trace_axis, scatter_axis, result):
    truth = result["test"]["x"]
    prediction = result["wake_sequence"]["prediction"]
    truth = truth[: prediction.shape[0]]

    steps = np.arange(200)
    trace_axis.plot(steps, truth[:200, INPUT_SHOWN], color="k", label=f"input x[{INPUT_SHOWN}]")
    trace_axis.plot(
        steps,
        prediction[:200, INPUT_SHOWN],
        color="tab:red",
        linestyle="--",
        label=f"prediction $(W_{{out}} r)[{INPUT_SHOWN}]$",
    )
    trace_axis.set_xlabel("test step")
    trace_axis.set_ylabel(f"input x[{INPUT_SHOWN}]")
    trace_axis.set_title("b  reconstruction (wake)", loc="left")
    trace_axis.legend(frameon=False, fontsize="small")

    every = max(1, truth.size // MAX_SCATTER_POINTS)
    flat_truth, flat_prediction = truth.ravel()[::every], prediction.ravel()[::every]
    scatter_axis.scatter(flat_truth, flat_prediction, s=2, alpha=0.3, color="tab:red", linewidths=0)
    limit = np.max(np.abs(np.concatenate([flat_truth, flat_prediction])))
    scatter_axis.plot([-limit, limit], [-limit, limit], color="k", linewidth=1, label="identity")
    correlation = np.corrcoef(flat_truth, flat_prediction)[0, 1]
    scatter_axis.set_xlabel("input x (every dimension)")
    scatter_axis.set_ylabel("prediction $W_{out} r$")
    scatter_axis.set_title(f"c  all inputs, Pearson correlation {correlation:.3f}", loc="left")
    scatter_axis.set_aspect("equal")
    scatter_axis.legend(frameon=False, fontsize="small")


def draw_autocorrelation_panel(axis, result, max_lag=80):
    lags = np.arange(max_lag + 1)
    unit = AUTOCORRELATION_UNIT
    series = {
        f"inferred r[{unit}] (wake)": (result["wake_sequence"]["r"][:, unit], "tab:red"),
        f"true latent z[{unit}]": (result["test"]["z"][:, unit], "k"),
        f"generated r[{unit}] (deep sleep)": (result["generative"]["r"][:, unit], "tab:blue"),
    }
    for label, (signal, color) in series.items():
        axis.plot(lags, autocorrelation(signal, max_lag), color=color, label=label)
    axis.set_xlabel("lag (steps)")
    axis.set_ylabel("autocorrelation")
    axis.set_title("d  temporal structure", loc="left")
    axis.legend(frameon=False, fontsize="small")


def draw_alternation_panel(axis, result):
    steps = np.arange(400)
    unit = ALTERNATION_UNIT
    duration = result["params"]["switch_period"] + 1
    axis.plot(steps, result["wake_sequence"]["r"][:400, unit], color="k", label="wake only")
    axis.plot(
        steps,
        result["wake_sleep_sequence"]["r"][:400, unit],
        color="tab:green",
        linestyle="--",
        label=f"alternating wake and sleep, phases of {plural(duration, 'step')}",
    )
    axis.set_xlabel("test step")
    axis.set_ylabel(f"latent unit r[{unit}]")
    axis.set_title("e  inference with phase alternation", loc="left")
    axis.legend(frameon=False, fontsize="small")


def draw(data_dir, figures_dir, mode="standard"):
    """Draw Figure 1 from the result files of mode in data_dir; return the saved paths."""
    results = [result for result in load_results(data_dir, mode) if result["status"] == "complete"]
    if not results:
        raise_no_complete(data_dir, mode)
    log.info("Figure 1 from %s of mode %s", plural(len(results), "run"), mode)
    report_differing_params(results, f"Figure 1 (mode {mode})", averaged=True)
    figure = plt.figure(figsize=(13, 7.5), constrained_layout=True)
    grid = figure.add_gridspec(2, 3)
    draw_loss_panel(figure.add_subplot(grid[0, 0]), results)
    draw_prediction_panels(figure.add_subplot(grid[0, 1]), figure.add_subplot(grid[0, 2]), results[0])
    draw_autocorrelation_panel(figure.add_subplot(grid[1, 0]), results[0])
    draw_alternation_panel(figure.add_subplot(grid[1, 1:]), results[0])
    paths = save_figure(figure, figures_dir, "figure1")
    plt.close(figure)
    return paths


def raise_no_complete(data_dir, mode):
    raise UserError(
        f"every result file of mode {mode!r} in {data_dir} comes from a diverged run; "
        f"rerun python impression_learning.py --mode {mode} with a lower --eta"
    )
