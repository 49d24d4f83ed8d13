"""Figure 1: impression learning on the synthetic latent process (standard mode).

Panels: (a) test loss through training, mean +- SEM over the seeds present;
(b) input dimension 1 over test steps 0-199, wake prediction W_out r against
the truth; (c) every input dimension, truth against prediction, with the
identity line; (d) autocorrelation of latent unit 0 over 80 lags: inferred
(wake), true latent, generated (deep sleep); (e) latent unit 1 over steps
0-399, wake only against alternating phases. Panels (b)-(e) show the run
with the lowest array index.
"""

import matplotlib.pyplot as plt
import numpy as np

from impression.figures.common import autocorrelation, load_results, mean_sem, save_figure, set_loss_scale
from impression.progress import log

MAX_SCATTER_POINTS = 20_000  # points drawn in panel (c); more only slow the PDF down


def draw_loss_panel(axis, results):
    curves = np.array([result["test_loss"] for result in results])
    steps = results[0]["snapshot_steps"]
    mean, sem = mean_sem(curves)
    label = f"mean ± SEM, {len(results)} seeds" if len(results) > 1 else f"seed {results[0]['seed']}"
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
    trace_axis.plot(steps, truth[:200, 1], color="k", label="input x")
    trace_axis.plot(steps, prediction[:200, 1], color="tab:red", linestyle="--", label="prediction $W_{out} r$")
    trace_axis.set_xlabel("test step")
    trace_axis.set_ylabel("input dimension 1")
    trace_axis.set_title("b  reconstruction (wake)", loc="left")
    trace_axis.legend(frameon=False, fontsize="small")

    every = max(1, truth.size // MAX_SCATTER_POINTS)
    flat_truth, flat_prediction = truth.ravel()[::every], prediction.ravel()[::every]
    scatter_axis.scatter(flat_truth, flat_prediction, s=2, alpha=0.3, color="tab:red", linewidths=0)
    limit = np.max(np.abs(np.concatenate([flat_truth, flat_prediction])))
    scatter_axis.plot([-limit, limit], [-limit, limit], color="k", linewidth=1, label="identity")
    correlation = np.corrcoef(flat_truth, flat_prediction)[0, 1]
    scatter_axis.set_xlabel("input x")
    scatter_axis.set_ylabel("prediction $W_{out} r$")
    scatter_axis.set_title(f"c  all inputs, r = {correlation:.3f}", loc="left")
    scatter_axis.set_aspect("equal")
    scatter_axis.legend(frameon=False, fontsize="small")


def draw_autocorrelation_panel(axis, result, max_lag=80):
    lags = np.arange(max_lag + 1)
    series = {
        "inferred (wake)": (result["wake_sequence"]["r"][:, 0], "tab:red"),
        "true latent": (result["test"]["z"][:, 0], "k"),
        "generated (deep sleep)": (result["generative"]["r"][:, 0], "tab:blue"),
    }
    for label, (signal, color) in series.items():
        axis.plot(lags, autocorrelation(signal, max_lag), color=color, label=label)
    axis.set_xlabel("lag (steps)")
    axis.set_ylabel("autocorrelation, latent unit 0")
    axis.set_title("d  temporal structure", loc="left")
    axis.legend(frameon=False, fontsize="small")


def draw_alternation_panel(axis, result):
    steps = np.arange(400)
    axis.plot(steps, result["wake_sequence"]["r"][:400, 1], color="k", label="wake only")
    axis.plot(
        steps,
        result["wake_sleep_sequence"]["r"][:400, 1],
        color="tab:green",
        linestyle="--",
        label=f"alternating (switch period {result['params']['switch_period']})",
    )
    axis.set_xlabel("test step")
    axis.set_ylabel("latent unit 1")
    axis.set_title("e  inference with phase alternation", loc="left")
    axis.legend(frameon=False, fontsize="small")


def draw(data_dir, figures_dir, mode="standard"):
    """Draw Figure 1 from the result files of mode in data_dir; return the saved paths."""
    results = [result for result in load_results(data_dir, mode) if result["status"] == "complete"]
    if not results:
        raise_no_complete(data_dir, mode)
    log.info("Figure 1 from %d run(s) of mode %s", len(results), mode)
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
    from impression.errors import UserError

    raise UserError(
        f"every result file of mode {mode!r} in {data_dir} comes from a diverged run; "
        f"rerun python impression_learning.py --mode {mode} with a lower --eta"
    )
