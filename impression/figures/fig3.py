"""Figure 3: inference with phase alternation against the switch period (switch_period mode).

Panels: (a) latent unit r[0] (0-based index), wake only against
alternating phases, for the shortest and (b) the longest switch period
present; (c) test loss through training for both; (d) correlation between
the wake-only and the alternating latent trajectories on the test sequence
against the phase duration switch_period + 1.

Every result file read must hold a switch_period run (UserError
otherwise), and a warning names any parameter other than switch_period in
which the runs of the sweep differ.
"""

import matplotlib.pyplot as plt
import numpy as np

from impression.analysis import trajectory_correlation
from impression.errors import UserError
from impression.figures.common import load_sweep, report_differing_params, save_figure, set_loss_scale
from impression.progress import log, plural

TRACE_STEPS = 200  # test steps shown in the trace panels
TRACE_UNIT = 0  # 0-based latent unit of the trace panels
SWEEP_KEYS = ("switch_period",)  # parameters that the array index of the sweep sets


def draw_trace(axis, result, label):
    period = result["params"]["switch_period"]
    steps = np.arange(TRACE_STEPS)
    axis.plot(steps, result["wake_sequence"]["r"][:TRACE_STEPS, TRACE_UNIT], color="k", label="wake only")
    axis.plot(
        steps,
        result["wake_sleep_sequence"]["r"][:TRACE_STEPS, TRACE_UNIT],
        color="tab:green",
        linestyle="--",
        label="alternating",
    )
    axis.set_xlabel("test step")
    axis.set_ylabel(f"latent unit r[{TRACE_UNIT}]")
    axis.set_title(f"{label}  phase duration {plural(period + 1, 'step')}", loc="left")
    axis.legend(frameon=False, fontsize="small")


def draw(data_dir, figures_dir, array_range, mode="switch_period"):
    """Draw Figure 3 from the switch_period sweep in data_dir; return (paths, correlation per period)."""
    results = {i: r for i, r in load_sweep(data_dir, mode, array_range).items() if r["status"] == "complete"}
    if not results:
        raise UserError(f"every switch_period result in {data_dir} comes from a diverged run")
    report_differing_params(list(results.values()), f"Figure 3 (mode {mode})", SWEEP_KEYS)
    periods = np.array([results[i]["params"]["switch_period"] for i in sorted(results)])
    correlations = np.array(
        [
            trajectory_correlation(results[i]["wake_sequence"]["r"], results[i]["wake_sleep_sequence"]["r"])
            for i in sorted(results)
        ]
    )
    for period, correlation in zip(periods, correlations, strict=True):
        log.info(
            "switch period %d (phase duration %d): wake/alternating correlation %.4f", period, period + 1, correlation
        )
    shortest, longest = results[min(results)], results[max(results)]

    figure, axes = plt.subplots(2, 2, figsize=(11, 7.5), constrained_layout=True)
    draw_trace(axes[0, 0], shortest, "a")
    draw_trace(axes[0, 1], longest, "b")
    for result, color in ((shortest, "tab:green"), (longest, "tab:purple")):
        axes[1, 0].plot(
            result["snapshot_steps"],
            result["test_loss"],
            color=color,
            label=f"phase duration {plural(result['params']['switch_period'] + 1, 'step')}",
        )
    set_loss_scale(axes[1, 0], np.concatenate([shortest["test_loss"], longest["test_loss"]]))
    axes[1, 0].set_xlabel("training step")
    axes[1, 0].set_ylabel("test loss (wake)")
    axes[1, 0].set_title("c  loss through training", loc="left")
    axes[1, 0].legend(frameon=False, fontsize="small")

    axes[1, 1].plot(periods + 1, correlations, "o-", color="k")
    axes[1, 1].set_xlabel("phase duration (switch_period + 1, steps)")
    axes[1, 1].set_ylabel("correlation of r, wake only vs alternating\n(Pearson, mean over latent units)")
    axes[1, 1].set_title("d  inference during alternation", loc="left")
    paths = save_figure(figure, figures_dir, "figure3")
    plt.close(figure)
    return paths, dict(zip(periods.tolist(), correlations.tolist(), strict=True))
