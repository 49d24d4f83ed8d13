"""Figure 2: impression learning against REINFORCE (SNR, dimensionality and lr_optim modes).

Panels:
(a) test loss through training of the SNR-mode network, mean +- SEM over seeds.
(b) cosine similarity between the mean IL and mean REINFORCE W_in updates.
(c) norms of the two mean updates (log axis).
(d) mean SNR of each rule (log axis).
(e) asymptotic wake test loss against the latent dimension for IL,
    REINFORCE and the backprop control (log axis).
(f) the lr_optim search: asymptotic wake test loss against the learning rate.

Reads from data_dir the result files of impression_learning.py (modes SNR,
dimensionality, lr_optim) and of il_backprop.py (dimensionality, tag 'bp').
One figure per REINFORCE variant: the 'original' variant's REINFORCE and
SNR files carry the tag 'original' (``impression.storage.run_result_path``).
Writes figure2_<variant>.png and .pdf into figures_dir.

Every file read must contain the mode, algorithm and REINFORCE variant that its
name and array index stand for (UserError otherwise). A warning names any
parameter in which runs drawn together differ, other than the seed and the
parameters that the array index sets. Missing array indices are logged as
warnings and skipped, and a panel without results shows which command makes
them. Diverged runs count as failed points: panel f marks them on its top
edge, the other panels leave them out.
"""

import textwrap

import matplotlib

matplotlib.use(matplotlib.get_backend())  # keep the caller's backend (Agg in tests and batch jobs)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from impression.errors import UserError  # noqa: E402
from impression.figures.common import (  # noqa: E402
    REINFORCE_ONLY_PARAMS,
    check_result,
    find_results,
    mean_sem,
    read_result,
    report_differing_params,
    save_figure,
    set_loss_scale,
)
from impression.progress import log, plural  # noqa: E402

ASYMPTOTE_SNAPSHOTS = 4  # last snapshots averaged into the asymptotic loss (the last 20% of training)
SNR_ARRAYS = range(1, 21)
DIMENSION_ARRAYS = {"impression": range(1, 6), "reinforce": range(6, 11), "backprop": range(1, 6)}
LR_ARRAYS = {"impression": range(1, 21), "reinforce": range(21, 41)}
COLORS = {"impression": "tab:blue", "reinforce": "tab:red", "backprop": "tab:gray"}
LABELS = {"impression": "IL", "reinforce": "REINFORCE", "backprop": "backprop"}
VARIANTS = ("corrected", "original")
DIMENSION_KEYS = ("n_latent", "n_in", "n_neurons")  # set by the array index of the dimensionality sweeps
# Parameters in which the curves of different rules in one panel may differ by design.
RULE_KEYS = ("algorithm", "eta", *REINFORCE_ONLY_PARAMS)


####################################################################
# Reading results
####################################################################
def variant_tag(variant):
    """Return the file tag of the REINFORCE results of variant."""
    if variant not in VARIANTS:
        raise UserError(f"unknown REINFORCE variant {variant!r}; expected one of {', '.join(VARIANTS)}")
    return "original" if variant == "original" else ""


def load_runs(data_dir, mode, arrays, tag="", status="complete", algorithm=None, variant=None):
    """Load the results of mode for the given array indices, as ({array: [results]}, failed).

    Logs a warning naming every missing index. Results whose status is not
    status go to failed, a dict keyed the same way. Raises UserError naming
    the file when one contains another mode, or another algorithm or variant
    than given (see check_result).
    """
    found = find_results(data_dir, mode, tag)
    completed, failed = {}, {}
    for (array_num, _), path in sorted(found.items()):
        if array_num not in arrays:
            continue
        result = read_result(path)
        check_result(result, path, mode, algorithm, variant)
        target = completed if result.get("status") == status else failed
        target.setdefault(array_num, []).append(result)
        if target is failed:
            log.warning(
                "%s: status %r, left out of the curves (panel f marks diverged rates on its top edge)",
                path.name,
                result.get("status"),
            )
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


def flatten(runs_by_array):
    """Return the results of {array: [results]} as one list, by array index."""
    return [result for array_num in sorted(runs_by_array) for result in runs_by_array[array_num]]


def warn_panel_params(groups, context, sweep_keys=()):
    """Warn about parameters that differ within each group of runs, then between the groups.

    groups maps a rule to its list of results, compared in one panel.
    Within a group only sweep_keys may differ. Between groups RULE_KEYS may
    differ as well. The first run of each group represents it there, and
    keys already reported within a group are not reported again.
    """
    reported = set()
    for rule, results in groups.items():
        if results:
            reported |= set(report_differing_params(results, f"{context}, {LABELS[rule]}", sweep_keys))
    representatives = [results[0] for results in groups.values() if results]
    if len(representatives) > 1:
        skipped = (*sweep_keys, *RULE_KEYS, *sorted(reported))
        report_differing_params(representatives, f"{context}, between {' and '.join(map(LABELS.get, groups))}", skipped)


####################################################################
# Panels
####################################################################
COMMAND_WIDTH = 48  # characters per line of the commands written into panels


def wrap_command(command):
    """Break a shell command into lines that fit a panel, at spaces only."""
    return textwrap.fill(
        command, COMMAND_WIDTH, subsequent_indent="    ", break_long_words=False, break_on_hyphens=False
    )


def note_missing(axis, text):
    """Write a centred note into an empty panel, saying what is missing and which command makes it.

    The panel keeps its title and axis labels but loses its ticks, which
    would show a meaningless 0-1 range.
    """
    axis.set_xticks([])
    axis.set_yticks([])
    axis.text(0.5, 0.5, text, transform=axis.transAxes, ha="center", va="center", fontsize=7)


def note_missing_rules(axis, missing, command_of):
    """Write under a panel's x label which rules are missing and the commands that make them.

    Below the axes the note cannot hide a data point.
    """
    lines = [f"missing {LABELS[rule]}: {wrap_command(command_of(rule))}" for rule in missing]
    axis.annotate(
        "\n".join(lines),
        xy=(0.0, 0.0),
        xycoords="axes fraction",
        xytext=(0, -32),
        textcoords="offset points",
        va="top",
        fontsize=6,
    )


def snr_command(variant):
    flag = " --reinforce_variant=original" if variant == "original" else ""
    return f"python impression_learning.py --mode SNR{flag} --array 1-20"


def label_snr_panels(axes, n_seeds):
    """Set the titles and axis labels of panels a-d, whether or not they have data."""
    loss_axis, cosine_axis, norm_axis, snr_axis = axes
    seeds = f", {plural(n_seeds, 'seed')}" if n_seeds else ""
    loss_axis.set_ylabel("test loss")
    loss_axis.set_title(f"(a) loss through training (SNR mode){seeds}", fontsize=9)
    cosine_axis.set_ylabel("cosine similarity of mean updates")
    cosine_axis.set_title("(b) alignment of the mean W_in updates", fontsize=9)
    norm_axis.set_ylabel("norm of the mean W_in update")
    norm_axis.set_title("(c) size of the mean updates", fontsize=9)
    snr_axis.set_ylabel("mean SNR of W_in entries")
    snr_axis.set_title("(d) signal-to-noise ratio", fontsize=9)
    for axis in axes:
        axis.set_xlabel("training step")
        # an offset label (1e5) instead of six-digit tick labels, which run into each other
        axis.ticklabel_format(axis="x", style="sci", scilimits=(0, 0))


def draw_snr_panels(axes, snr_results, variant):
    """Draw panels a-d from the SNR-mode results (one per seed)."""
    loss_axis, cosine_axis, norm_axis, snr_axis = axes
    label_snr_panels(axes, len(snr_results))
    if not snr_results:
        for axis in axes:
            note_missing(
                axis, f"no SNR results of the {variant} REINFORCE rule; run\n{wrap_command(snr_command(variant))}"
            )
        return
    steps = np.asarray(snr_results[0]["snapshot_steps"])
    length = min(len(result["test_loss"]) for result in snr_results)
    steps = steps[:length]

    mean, sem = mean_sem([result["test_loss"][:length] for result in snr_results])
    draw_band(loss_axis, steps, mean, sem, COLORS["impression"], "IL")
    set_loss_scale(loss_axis, np.concatenate([mean - sem, mean + sem]))
    loss_axis.legend(fontsize=7)

    analysed = [result["snr"] for result in snr_results if "snr" in result]
    if not analysed:
        for axis in axes[1:]:
            note_missing(axis, f"the SNR results lack the update analysis; rerun\n{wrap_command(snr_command(variant))}")
        return
    n_snap = min(len(snr["cosine"]) for snr in analysed)
    steps = steps[:n_snap]
    mean, sem = mean_sem([snr["cosine"][:n_snap] for snr in analysed])
    draw_band(cosine_axis, steps, mean, sem, "k", "IL vs REINFORCE")
    cosine_axis.set_ylim(min(0.0, float(np.nanmin(mean - sem)) - 0.05), 1.0)
    cosine_axis.axhline(0.0, color="0.7", lw=0.5)

    for rule in ("impression", "reinforce"):
        mean, sem = mean_sem([snr[rule]["norm"][:n_snap] for snr in analysed])
        draw_band(norm_axis, steps, mean, sem, COLORS[rule], LABELS[rule])
        mean, sem = mean_sem([snr[rule]["mean_snr"][:n_snap] for snr in analysed])
        draw_band(snr_axis, steps, mean, sem, COLORS[rule], LABELS[rule])
    norm_axis.set_yscale("log")
    snr_axis.set_yscale("log")
    for axis in (norm_axis, snr_axis):
        axis.legend(fontsize=7)


def draw_band(axis, x, mean, sem, color, label):
    axis.plot(x, mean, color=color, label=label)
    axis.fill_between(x, mean - sem, mean + sem, color=color, alpha=0.25, lw=0)


def dimension_command(rule, variant):
    if rule == "backprop":
        return "python il_backprop.py --array 1-5"
    if rule == "impression":
        return "python impression_learning.py --mode dimensionality --array 1-5"
    flag = " --reinforce_variant=original" if variant == "original" else ""
    return f"python impression_learning.py --mode dimensionality{flag} --array 6-10"


def draw_dimension_panel(axis, runs_by_rule, variant="corrected"):
    """Draw panel e: asymptotic wake test loss against the latent dimension n = 2^k."""
    axis.set_xlabel("latent dimension n (inputs 2n)")
    axis.set_ylabel(f"wake test loss (mean of last {ASYMPTOTE_SNAPSHOTS} snapshots)")
    axis.set_title("(e) asymptotic loss against dimension", fontsize=9)
    drawn, values = [], []
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
        values.extend(means)
    missing = [rule for rule in runs_by_rule if rule not in drawn]
    if not drawn:
        commands = "\n".join(wrap_command(dimension_command(rule, variant)) for rule in missing)
        note_missing(axis, f"no dimensionality results; run\n{commands}")
        return
    if missing:
        note_missing_rules(axis, missing, lambda rule: dimension_command(rule, variant))
    axis.set_xscale("log", base=2)
    # A log axis separates IL from backprop, whose losses differ by a factor rather
    # than an offset. The wake loss is a difference of two squared-error terms, so
    # a well-fitted run can average below zero; set_loss_scale then uses symlog.
    set_loss_scale(axis, values)
    axis.legend(fontsize=7, loc="best")


def lr_optim_command(rule, variant):
    if rule == "impression":
        return "python impression_learning.py --mode lr_optim --array 1-20"
    flag = " --reinforce_variant=original" if variant == "original" else ""
    return f"python impression_learning.py --mode lr_optim{flag} --array 21-40"


def draw_learning_rate_panel(axis, completed_by_rule, failed_by_rule, variant="corrected"):
    """Draw panel f: asymptotic wake test loss against eta, diverged runs as crosses on the top edge."""
    axis.set_xlabel("learning rate eta")
    axis.set_ylabel(f"wake test loss (mean of last {ASYMPTOTE_SNAPSHOTS} snapshots)")
    axis.set_title("(f) learning-rate search (lr_optim)", fontsize=9)
    values = []
    drawn = []
    for rule in completed_by_rule:
        points = sorted(
            (result["params"]["eta"], asymptotic_loss(result))
            for results in completed_by_rule[rule].values()
            for result in results
        )
        if points:
            etas, losses = zip(*points, strict=False)
            axis.plot(etas, losses, color=COLORS[rule], marker="o", ms=3, label=LABELS[rule])
            values.extend(losses)
            drawn.append(rule)
        failed = [result["params"]["eta"] for results in failed_by_rule[rule].values() for result in results]
        if failed:
            # A diverged run has no asymptotic loss: mark its eta on the top edge
            # of the axes (x in data, y in axes coordinates), not at a loss value.
            axis.plot(
                failed,
                [1.0] * len(failed),
                "x",
                color=COLORS[rule],
                ms=7,
                mew=1.5,
                clip_on=False,
                transform=axis.get_xaxis_transform(),
                label=f"{LABELS[rule]} diverged (top edge)",
            )
            drawn.append(rule)
    missing = [rule for rule in completed_by_rule if rule not in drawn]
    if not drawn:
        commands = "\n".join(wrap_command(lr_optim_command(rule, variant)) for rule in missing)
        note_missing(axis, f"no lr_optim results; run\n{commands}")
        return
    if missing:
        note_missing_rules(axis, missing, lambda rule: lr_optim_command(rule, variant))
    axis.set_xscale("log")
    if values:
        set_loss_scale(axis, values)
        # Headroom keeps the highest finite loss clear of the diverged marks on the top edge.
        axis.set_ymargin(0.15)
        axis.autoscale_view()
    axis.legend(fontsize=7, loc="best")


####################################################################
# Figure
####################################################################
def draw(data_dir, figures_dir, variant="corrected"):
    """Draw Figure 2 for one REINFORCE variant from the results in data_dir, and return the file paths."""
    tag = variant_tag(variant)
    snr_completed, _ = load_runs(data_dir, "SNR", SNR_ARRAYS, tag, algorithm="impression", variant=variant)
    snr_results = flatten(snr_completed)
    report_differing_params(snr_results, f"Figure 2 ({variant}), panels a-d, mode SNR", averaged=True)

    dimension_runs = {
        "impression": load_runs(data_dir, "dimensionality", DIMENSION_ARRAYS["impression"], algorithm="impression")[0],
        "reinforce": load_runs(
            data_dir, "dimensionality", DIMENSION_ARRAYS["reinforce"], tag, algorithm="reinforce", variant=variant
        )[0],
        "backprop": load_runs(data_dir, "dimensionality", DIMENSION_ARRAYS["backprop"], "bp", algorithm="backprop")[0],
    }
    # The backprop control has its own parameter set (lr, lr_D, a shorter
    # training), so it is checked on its own, not against IL and REINFORCE.
    context = f"Figure 2 ({variant}), panel e, mode dimensionality"
    warn_panel_params(
        {rule: flatten(dimension_runs[rule]) for rule in ("impression", "reinforce")}, context, DIMENSION_KEYS
    )
    report_differing_params(flatten(dimension_runs["backprop"]), f"{context}, backprop", DIMENSION_KEYS)

    lr_completed, lr_failed = {}, {}
    for rule, rule_tag, rule_variant in (("impression", "", None), ("reinforce", tag, variant)):
        lr_completed[rule], lr_failed[rule] = load_runs(
            data_dir, "lr_optim", LR_ARRAYS[rule], rule_tag, algorithm=rule, variant=rule_variant
        )
    warn_panel_params(
        {rule: flatten(lr_completed[rule]) + flatten(lr_failed[rule]) for rule in lr_completed},
        f"Figure 2 ({variant}), panel f, mode lr_optim",
        ("eta",),
    )

    if not snr_results and not any(dimension_runs.values()) and not any(lr_completed.values()):
        raise UserError(
            f"no SNR, dimensionality or lr_optim result files in {data_dir}; run python impression_learning.py "
            "--mode SNR (and --mode dimensionality, --mode lr_optim for every array index) first"
        )

    figure, grid = plt.subplots(2, 3, figsize=(13, 7.5))
    axes = grid.ravel()
    draw_snr_panels(axes[:4], snr_results, variant)
    draw_dimension_panel(axes[4], dimension_runs, variant)
    draw_learning_rate_panel(axes[5], lr_completed, lr_failed, variant)
    figure.suptitle(f"Figure 2: impression learning against REINFORCE ({variant} REINFORCE rule)", fontsize=11)
    figure.tight_layout()
    paths = save_figure(figure, figures_dir, f"figure2_{variant}")
    plt.close(figure)
    return paths
