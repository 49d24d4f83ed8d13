"""Figure 4: a two-layer network learns mel spectrograms of spoken digits (mode 'Vocal_Digits').

Reads the Vocal_Digits result files in data_dir (written by
impression_learning.py --mode Vocal_Digits): array 1 is impression learning
(IL), arrays 3-12 are REINFORCE over the learning rates 1e-3 * 10^-(i - 3),
in the corrected or the authors' variant. Runs are grouped by their stored
algorithm and variant, and each file must agree with its name: mode
Vocal_Digits, IL at array 1 and REINFORCE elsewhere, and the tag 'original'
exactly on runs of the authors' rule (UserError otherwise). A warning names
any parameter in which the IL runs averaged in panel (a) differ, or in which
the curves of panel (a) differ other than by rule and learning rate.
Writes figures_dir/figure4.png and .pdf.

Panels: (a) test loss through training, IL against REINFORCE: the authors'
rule at array 10 (eta 1e-10, the run they plotted) and the corrected rule at
the learning rate of the grid with the lowest final test loss; (b) 18 test
frames and (c) their reconstructions W_out0 r1 from the wake-phase latents;
(d, e) correlation matrices across mel bands of the test data and of the
generated (deep-sleep) samples, with the cosine similarity of their
off-diagonal entries; (f) a stretch of generated spectrogram; (g)
autocorrelation of top-layer latent unit r2[0] (0-based index), wake
against deep sleep. Panels (b)-(g) show the IL network.
"""

from pathlib import Path

import librosa
import matplotlib.pyplot as plt
import numpy as np

from impression.errors import UserError
from impression.figures.common import (
    REINFORCE_ONLY_PARAMS,
    RESULT_FILE_NAME,
    autocorrelation,
    check_result,
    mean_sem,
    read_result,
    report_differing_params,
    save_figure,
)
from impression.progress import log, plural
from impression.vocal_digits import N_BANDS_SHOWN

MODE = "Vocal_Digits"
IL_ARRAY = 1  # array index of the impression-learning run; 3-12 run REINFORCE
ORIGINAL_PLOTTED_ARRAY = 10  # the authors' Figure 4 shows their REINFORCE rule at array 10, eta 1e-10
N_FRAMES_SHOWN = 18  # test frames in panels (b) and (c)
N_GENERATED_SHOWN = 200  # generated frames in panel (f)
N_LAGS = 40  # lags of the autocorrelation in panel (g)
LATENT_UNIT = 0  # 0-based top-layer unit of panel (g)
DB_RANGE = (-80.0, 0.0)  # colour range of the spectrograms; the dataset spans [-80, 0] dB per file


####################################################################
# results
####################################################################
def load_vocal_digits_results(data_dir):
    """Return {'impression': [...], 'corrected': [...], 'original': [...]} of the mode's complete or diverged runs."""
    groups = {"impression": [], "corrected": [], "original": []}
    for path in sorted(Path(data_dir).glob(f"{MODE}*_array*_seed*.npz")):
        match = RESULT_FILE_NAME.match(path.name)
        if match is None or match["prefix"] not in (MODE, f"{MODE}_original"):
            continue
        result = read_result(path)
        original = match["prefix"] == f"{MODE}_original"
        algorithm = "impression" if int(match["array"]) == IL_ARRAY and not original else "reinforce"
        check_result(result, path, MODE, algorithm)
        if algorithm == "reinforce":
            check_result(result, path, MODE, algorithm, "original" if original else "corrected")
        key = "impression" if algorithm == "impression" else result["params"]["reinforce_variant"]
        groups[key].append(result)
    if not groups["impression"]:
        raise UserError(
            f"no impression-learning result of mode {MODE!r} in {data_dir}; run "
            f"python impression_learning.py --mode {MODE} --array-num 1 first "
            f"(and --array-num 3 to 12 for the REINFORCE curves)"
        )
    report_differing_params(
        groups["impression"], f"Figure 4 (mode {MODE}), IL runs averaged in panel (a)", averaged=True
    )
    return groups


def best_run(results):
    """Return the complete run with the lowest final test loss, or None when none completed.

    NOTE: when no learning rate lowers the loss, this picks the run whose network changed least.
    """
    complete = [result for result in results if result["status"] == "complete"]
    if not complete:
        return None
    return min(complete, key=lambda result: result["test_loss"][-1])


def epochs_of(result):
    return np.asarray(result["snapshot_steps"]) / result["n_train_frames"]


####################################################################
# panels
####################################################################
def draw_loss(ax, groups):
    """Panel (a): mean test loss of every snapshot, IL and the REINFORCE variants."""
    il = groups["impression"]
    mean, sem = mean_sem([result["test_loss"] for result in il])
    epochs = epochs_of(il[0])
    label = "IL" if len(il) == 1 else f"IL (mean ± SEM, {plural(len(il), 'seed')})"
    ax.plot(epochs, mean, color="tab:blue", label=label)
    ax.fill_between(epochs, mean - sem, mean + sem, color="tab:blue", alpha=0.3, linewidth=0)

    drawn = [il[0]]
    original = [result for result in groups["original"] if result["array_num"] == ORIGINAL_PLOTTED_ARRAY]
    if original:
        run = original[0]
        drawn.append(run)
        suffix = " (diverged)" if run["status"] == "diverged" else ""
        ax.plot(epochs_of(run), run["test_loss"], color="tab:red", linestyle="--",
                label=f"REINFORCE, authors' rule, η = {run['params']['eta']:.0e}{suffix}")  # fmt: skip
    else:
        log.warning("no result of the authors' REINFORCE rule at array %d; panel (a) omits it", ORIGINAL_PLOTTED_ARRAY)

    corrected = best_run(groups["corrected"])
    if corrected is not None:
        drawn.append(corrected)
        n_grid = len(groups["corrected"])
        n_diverged = sum(result["status"] == "diverged" for result in groups["corrected"])
        ax.plot(epochs_of(corrected), corrected["test_loss"], color="tab:orange",
                label=f"REINFORCE, corrected, η = {corrected['params']['eta']:.0e}\n"
                f"(lowest final loss of {plural(n_grid, 'learning rate')}, {n_diverged} diverged)")  # fmt: skip
    else:
        log.warning("no complete result of the corrected REINFORCE rule; panel (a) omits it")

    # il[0] represents the IL curve, because its seeds were compared with each other on loading.
    report_differing_params(
        drawn, f"Figure 4 (mode {MODE}), curves of panel (a)", ("algorithm", "eta", *REINFORCE_ONLY_PARAMS)
    )
    ax.set_yscale("log")
    ax.set_xlabel("training epoch")
    ax.set_ylabel("test loss")
    ax.set_title("a  loss through training", loc="left")
    ax.legend(fontsize="x-small", frameon=False)


def set_frequency_ticks(ax, frequencies, axis="y", label="frequency (Hz)"):
    """Label mel-band indices on one axis with their centre frequencies in Hz."""
    ticks = np.linspace(0, N_BANDS_SHOWN - 1, 5).round().astype(int)
    labels = [f"{frequencies[tick]:.0f}" for tick in ticks]
    if axis == "y":
        ax.set_yticks(ticks, labels)
        ax.set_ylabel(label)
    else:
        ax.set_xticks(ticks, labels, rotation=45)
        ax.set_xlabel(label)


def frame_milliseconds(result):
    """Return the time between spectrogram frames of result's dataset, in milliseconds."""
    dataset = result["dataset"]
    return 1000.0 * dataset["hop_length"] / dataset["sample_rate"]


def draw_spectrogram(ax, spectrogram_db, frequencies, title, frame_label="frame"):
    """Show (frames, bands) dB values with frequency upwards; return the image."""
    image = ax.imshow(
        spectrogram_db[:, :N_BANDS_SHOWN].T,
        origin="lower",
        aspect="auto",
        cmap="magma",
        vmin=DB_RANGE[0],
        vmax=DB_RANGE[1],
        interpolation="nearest",
    )
    set_frequency_ticks(ax, frequencies)
    ax.set_xlabel(frame_label)
    ax.set_title(title, loc="left")
    return image


def draw_correlations(ax_test, ax_generated, correlation, frequencies):
    """Panels (d) and (e): band correlations of the test data and of the generated samples."""
    for ax, name, title in ((ax_test, "test", "d  test data"), (ax_generated, "generated", "e  generated")):
        image = ax.imshow(correlation[name], origin="lower", cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
        ax.set_title(title, loc="left")
        for axis in ("x", "y"):
            set_frequency_ticks(ax, frequencies, axis, "mel band centre frequency (Hz)")
    ax_generated.text(
        0.03,
        0.97,
        f"cosine similarity to (d): {correlation['cosine_similarity']:.3f}\n"
        f"untrained network: {correlation['cosine_similarity_initial']:.3f}\n"
        "(off-diagonal entries)",
        transform=ax_generated.transAxes,
        fontsize="x-small",
        va="top",
        bbox=dict(facecolor="white", edgecolor="none", alpha=0.8),
    )
    return image


def draw_autocorrelation(ax, result):
    """Panel (g): autocorrelation of one top-layer unit, wake against deep sleep."""
    wake = result["wake_sequence"]["r2"][:, LATENT_UNIT]
    sleep = result["generative"]["r2"][:, LATENT_UNIT]
    lags = np.arange(N_LAGS + 1)
    ax.plot(lags, autocorrelation(wake, N_LAGS), color="tab:blue", label="wake (inferred)")
    ax.plot(lags, autocorrelation(sleep, N_LAGS), color="tab:purple", linestyle="--", label="deep sleep (generated)")
    ax.axhline(0, color="0.6", linewidth=0.8)
    ax.set_xlabel(f"lag (frames, {frame_milliseconds(result):.1f} ms apart)")
    ax.set_ylabel("autocorrelation")
    ax.set_title(f"g  top latent unit r2[{LATENT_UNIT}]", loc="left")
    ax.legend(fontsize="x-small", frameon=False)


####################################################################
# figure
####################################################################
def draw(data_dir, figures_dir):
    """Draw Figure 4 from the Vocal_Digits results in data_dir; return the PNG and PDF paths."""
    groups = load_vocal_digits_results(data_dir)
    il = next((result for result in groups["impression"] if result["status"] == "complete"), None)
    if il is None:
        raise UserError(
            f"every impression-learning result of mode {MODE!r} in {data_dir} diverged; rerun with a lower --eta"
        )
    sample_rate = il["dataset"]["sample_rate"]
    frequencies = librosa.mel_frequencies(n_mels=il["dataset"]["n_mels"], fmax=sample_rate / 2)

    figure = plt.figure(figsize=(17, 8.5), layout="constrained")
    grid = figure.add_gridspec(2, 4)
    draw_loss(figure.add_subplot(grid[0, 0:2]), groups)

    frames = slice(0, N_FRAMES_SHOWN)
    ax_test = figure.add_subplot(grid[0, 2])
    frame_label = f"frame ({frame_milliseconds(il):.1f} ms apart)"
    draw_spectrogram(ax_test, il["test"]["x_db"][frames], frequencies, "b  test frames", frame_label)
    ax_reconstruction = figure.add_subplot(grid[0, 3], sharey=ax_test)
    image = draw_spectrogram(
        ax_reconstruction,
        il["wake_sequence"]["prediction_db"][frames],
        frequencies,
        "c  reconstructions (wake)",
        frame_label,
    )
    quality = il["reconstruction"]
    ax_reconstruction.text(
        0.02, 0.97, f"RMSE {quality['rmse_db']:.1f} dB, R² {quality['r_squared']:.2f} (whole test set)",
        transform=ax_reconstruction.transAxes, color="white", fontsize="x-small", va="top",
    )  # fmt: skip
    figure.colorbar(image, ax=[ax_test, ax_reconstruction], label="dB", shrink=0.8)

    correlation_image = draw_correlations(
        figure.add_subplot(grid[1, 0]), figure.add_subplot(grid[1, 1]), il["correlation"], frequencies
    )
    figure.colorbar(correlation_image, ax=figure.axes[-2:], label="correlation", shrink=0.8)

    ax_generated = figure.add_subplot(grid[1, 2])
    generated = il["generative"]["s_db"][:N_GENERATED_SHOWN]
    draw_spectrogram(ax_generated, generated, frequencies, "f  generated spectrogram (deep sleep)", frame_label)

    draw_autocorrelation(figure.add_subplot(grid[1, 3]), il)
    figure.suptitle(f"Figure 4: two-layer network on FSDD mel spectrograms (seed {il['seed']})")
    paths = save_figure(figure, figures_dir, "figure4")
    plt.close(figure)
    return paths
