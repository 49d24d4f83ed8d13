"""Figure 2: impression learning against REINFORCE (SNR, dimensionality and lr_optim modes).

Panels:
(a) test loss through training of the SNR-mode network, mean +- SEM over seeds.
(b) cosine similarity between the mean IL and mean REINFORCE W_in updates.
(c) norms of the two mean updates (log axis).
(d) mean SNR of each rule (log axis).
(e) asymptotic wake test loss against the latent dimension for IL,
    REINFORCE and the backprop control.
(f) the lr_optim search: asymptotic wake test loss against the learning rate.

Reads from data_dir the result files of impression_learning.py (modes SNR,
dimensionality, lr_optim) and of il_backprop.py (dimensionality, tag 'bp').
One figure per REINFORCE variant: the 'original' variant's REINFORCE and
SNR files carry the tag 'original' (``impression.storage.run_result_path``).
Writes figure2_<variant>.png and .pdf into figures_dir.

Missing array indices are logged as warnings and skipped; diverged runs
count as failed points (drawn as crosses in panel f, left out elsewhere).
"""

import matplotlib

matplotlib.use(matplotlib.get_backend())  # keep the caller's backend (Agg in tests and batch jobs)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from impression.errors import UserError  # noqa: E402
from impression.figures.common import find_results, mean_sem, save_figure  # noqa: E402
from impression.progress import log  # noqa: E402
from impression.storage import load_result  # noqa: E402

ASYMPTOTE_SNAPSHOTS = 4  # last snapshots averaged into the asymptotic loss (the last 20% of training)
DIMENSION_ARRAYS = {"impression": range(1, 6), "reinforce": range(6, 11)}
LR_ARRAYS = {"impression": range(1, 21), "reinforce": range(21, 41)}
COLORS = {"impression": "tab:blue", "reinforce": "tab:red", "backprop": "tab:gray"}
LABELS = {"impression": "IL", "reinforce": "REINFORCE", "backprop": "backprop"}
VARIANTS = ("corrected", "original")


####################################################################
# Reading results
####################################################################
def variant_tag(variant):
    """Return the file tag of the REINFORCE results of variant."""
    if variant not in VARIANTS:
        raise UserError(f"unknown REINFORCE variant {variant!r}; expected one of {', '.join(VARIANTS)}")
    return "original" if variant == "original" else ""


def load_runs(data_dir, mode, arrays, tag="", status="complete"):
    """Load the results of mode for the given array indices, as ({array: [results]}, failed).

    Logs a warning naming every missing index. Results whose status is not
    status go to failed, a dict keyed the same way.
    """
    found = find_results(data_dir, mode, tag)
    completed, failed = {}, {}
    for (array_num, _), path in sorted(found.items()):
        if array_num not in arrays:
            continue
        result = load_result(path)
        target = completed if result.get("status") == status else failed
        target.setdefault(array_num, []).append(result)
        if target is failed:
            log.warning("%s: status %r, counted as a failed run", path.name, result.get("status"))
    missing = [array_num for array_num in arrays if array_num not in completed and array_num not in failed]
    if missing:
        name = f"{mode}_{tag}" if tag else mode
        log.warning("%s: no result files for array indices %s in %s", name, compact_ranges(missing), data_dir)
    return completed, failed


def compact_ranges(numbers):
    """Return '1-3, 7' for [1, 2, 3, 7]."""
    numbers = sorted(numbers)
    parts, start = [], numbers[0]
    for previous, current in zip(numbers, numbers[1:] + [None], strict=False):
        if current != previous + 1:
            parts.append(str(start) if start == previous else f"{start}-{previous}")
            start = current
    return ", ".join(parts)


def asymptotic_loss(result):
    """Return the mean test loss of the last ASYMPTOTE_SNAPSHOTS snapshots."""
    return float(np.mean(np.asarray(result["test_loss"])[-ASYMPTOTE_SNAPSHOTS:]))


####################################################################
# Panels
####################################################################
def note_missing(axis, text):
    axis.text(0.5, 0.5, text, transform=axis.transAxes, ha="center", va="center", fontsize=8, wrap=True)


def draw_snr_panels(axes, snr_results, variant):
    """Draw panels a-d from the SNR-mode results (one per seed)."""
    loss_axis, cosine_axis, norm_axis, snr_axis = axes
    if not snr_results:
        for axis in axes:
            note_missing(axis, f"no SNR results ({variant} variant)")
        return
    steps = np.asarray(snr_results[0]["snapshot_steps"])
    length = min(len(result["test_loss"]) for result in snr_results)
    steps = steps[:length]

    mean, sem = mean_sem([result["test_loss"][:length] for result in snr_results])
    draw_band(loss_axis, steps, mean, sem, COLORS["impression"], "IL")
    loss_axis.set_ylabel("test loss")
    loss_axis.set_title(f"(a) loss through training, {len(snr_results)} seeds", fontsize=9)

    analysed = [result["snr"] for result in snr_results if "snr" in result]
    if not analysed:
        for axis in axes[1:]:
            note_missing(axis, "SNR results lack the update analysis")
        return
    n_snap = min(len(snr["cosine"]) for snr in analysed)
    steps = steps[:n_snap]
    mean, sem = mean_sem([snr["cosine"][:n_snap] for snr in analysed])
    draw_band(cosine_axis, steps, mean, sem, "k", "IL vs REINFORCE")
    cosine_axis.set_ylim(min(0.0, float(np.nanmin(mean - sem)) - 0.05), 1.0)
    cosine_axis.axhline(0.0, color="0.7", lw=0.5)
    cosine_axis.set_ylabel("cosine similarity of mean updates")
    cosine_axis.set_title("(b) alignment of the mean W_in updates", fontsize=9)

    for rule in ("impression", "reinforce"):
        mean, sem = mean_sem([snr[rule]["norm"][:n_snap] for snr in analysed])
        draw_band(norm_axis, steps, mean, sem, COLORS[rule], LABELS[rule])
        mean, sem = mean_sem([snr[rule]["mean_snr"][:n_snap] for snr in analysed])
        draw_band(snr_axis, steps, mean, sem, COLORS[rule], LABELS[rule])
    norm_axis.set_yscale("log")
    norm_axis.set_ylabel("norm of the mean W_in update")
    norm_axis.set_title("(c) size of the mean updates", fontsize=9)
    snr_axis.set_yscale("log")
    snr_axis.set_ylabel("mean SNR of W_in entries")
    snr_axis.set_title("(d) signal-to-noise ratio", fontsize=9)
    for axis in axes:
        axis.set_xlabel("training step")
    for axis in (loss_axis, norm_axis, snr_axis):
        axis.legend(fontsize=7)


def draw_band(axis, x, mean, sem, color, label):
    axis.plot(x, mean, color=color, label=label)
    axis.fill_between(x, mean - sem, mean + sem, color=color, alpha=0.25, lw=0)


def draw_dimension_panel(axis, runs_by_rule):
    """Draw panel e: asymptotic wake test loss against the latent dimension n = 2^k."""
    drawn = []
    for rule, runs in runs_by_rule.items():
        if not runs:
            continue
        dimensions, means, sems = [], [], []
        for array_num in sorted(runs):
            results = runs[array_num]
            dimensions.append(int(results[0]["params"]["n_neurons"]) if "params" in results[0] else 2**array_num)
            mean, sem = mean_sem([[asymptotic_loss(result)] for result in results])
            means.append(mean[0])
            sems.append(sem[0])
        axis.errorbar(dimensions, means, yerr=sems, color=COLORS[rule], marker="o", label=LABELS[rule], capsize=2)
        drawn.append(rule)
    missing = [LABELS[rule] for rule in runs_by_rule if rule not in drawn]
    if missing:
        axis.text(0.02, 0.98, "missing: " + ", ".join(missing), transform=axis.transAxes, va="top", fontsize=7)
    axis.set_xscale("log", base=2)
    axis.set_xlabel("latent dimension n (inputs 2n)")
    axis.set_ylabel(f"wake test loss (last {ASYMPTOTE_SNAPSHOTS} snapshots)")
    axis.set_title("(e) asymptotic loss against dimension", fontsize=9)
    if drawn:
        axis.legend(fontsize=7)


def draw_learning_rate_panel(axis, completed_by_rule, failed_by_rule):
    """Draw panel f: asymptotic wake test loss against eta, failed runs as crosses at the top."""
    any_drawn = False
    finite = [
        asymptotic_loss(result)
        for runs in completed_by_rule.values()
        for results in runs.values()
        for result in results
    ]
    top = max(finite) if finite else 1.0
    for rule in completed_by_rule:
        points = sorted(
            (result["params"]["eta"], asymptotic_loss(result))
            for results in completed_by_rule[rule].values()
            for result in results
        )
        if points:
            etas, losses = zip(*points, strict=False)
            axis.plot(etas, losses, color=COLORS[rule], marker="o", ms=3, label=LABELS[rule])
            any_drawn = True
        failed = [result["params"]["eta"] for results in failed_by_rule[rule].values() for result in results]
        if failed:
            axis.plot(failed, [top] * len(failed), "x", color=COLORS[rule], label=f"{LABELS[rule]} diverged")
            any_drawn = True
    if not any_drawn:
        note_missing(axis, "no lr_optim results")
        return
    axis.set_xscale("log")
    axis.set_xlabel("learning rate eta")
    axis.set_ylabel(f"wake test loss (last {ASYMPTOTE_SNAPSHOTS} snapshots)")
    axis.set_title("(f) learning-rate search (lr_optim)", fontsize=9)
    axis.legend(fontsize=7)


####################################################################
# Figure
####################################################################
def draw(data_dir, figures_dir, variant="corrected"):
    """Draw Figure 2 for one REINFORCE variant from the results in data_dir, and return the file paths."""
    tag = variant_tag(variant)
    snr_completed, _ = load_runs(data_dir, "SNR", range(1, 21), tag)
    snr_results = [result for results in snr_completed.values() for result in results]

    dimension_runs = {
        "impression": load_runs(data_dir, "dimensionality", DIMENSION_ARRAYS["impression"])[0],
        "reinforce": load_runs(data_dir, "dimensionality", DIMENSION_ARRAYS["reinforce"], tag)[0],
        "backprop": load_runs(data_dir, "dimensionality", range(1, 6), "bp")[0],
    }
    lr_completed, lr_failed = {}, {}
    for rule, rule_tag in (("impression", ""), ("reinforce", tag)):
        lr_completed[rule], lr_failed[rule] = load_runs(data_dir, "lr_optim", LR_ARRAYS[rule], rule_tag)

    if not snr_results and not any(dimension_runs.values()) and not any(lr_completed.values()):
        raise UserError(
            f"no SNR, dimensionality or lr_optim result files in {data_dir}; run python impression_learning.py "
            "--mode SNR (and --mode dimensionality, --mode lr_optim for every array index) first"
        )

    figure, grid = plt.subplots(2, 3, figsize=(13, 7.5))
    axes = grid.ravel()
    draw_snr_panels(axes[:4], snr_results, variant)
    draw_dimension_panel(axes[4], dimension_runs)
    draw_learning_rate_panel(axes[5], lr_completed, lr_failed)
    figure.suptitle(f"Figure 2: impression learning against REINFORCE ({variant} REINFORCE rule)", fontsize=11)
    figure.tight_layout()
    paths = save_figure(figure, figures_dir, f"figure2_{variant}")
    plt.close(figure)
    return paths
