"""REINFORCE comparison rule for the one-latent-layer network (alternating phases).

REINFORCE (neural variational inference, a three-factor rule) adds to
impression learning's own update a reward-modulated eligibility trace:

    score terms, from the mixed activities of every step:
        u_rec  = [tanh'(W_in s) * (r - tanh(W_in s))] s^T       (W_in)
        u_out  = (s - W_out r) r^T                              (W_out)
        u_D    = (r_t - D r_{t-1}) * r_{t-1}                    (diagonal of D)
    traces:   e_rec <- delta u_rec + gamma e_rec,  e_gen <- (1 - delta) u_gen + gamma e_gen
              (u_gen and e_gen stand for u_out, u_D and their traces)
    updates:  dW_in  = (1 - delta) u_rec - (L_t - Lbar) e_rec
              dW_out = delta (x_t - W_out r) r^T - (L_t - Lbar) e_out
              dD     = delta u_D - (L_t - Lbar) e_D
    baseline: Lbar <- 0.99 Lbar + 0.01 L_t, used before its own update

with L_t the single-sample loss of the step (wake: generative predictions
against recognition activities, sleep: the reverse). In wake u_rec is
sigma_rec^2 times the score of the recognition density, so the mean of
-L_t u_rec is -sigma_rec^2 times the gradient of the mean loss: the rule
descends the loss. Traces start at 0 and are reset with the activities,
because the loss after a reset does not depend on earlier noise. The
baseline starts at 0 when the network is made and is never reset.

reinforce_variant = 'original' reproduces the rule of the authors' code
(github.com/colinbredenberg/Impression-Learning-Camera-Ready, commit
97de28a); each of its five differences is one field of ``ReinforceVariant``.

The kernel draws the noise like ``impression.kernels``: four vectors per
step in the order stimulus recognition, latent recognition, latent
generative, stimulus generative, from the numpy Generator passed in. A
REINFORCE network and an impression-learning network run with
draw_all_noise=True, with the same weights and noise seed, therefore have
the same activities and losses.
"""

from dataclasses import dataclass

import numba
import numpy as np

from impression import kernels
from impression.kernels import JIT_OPTIONS, PHASE_DELTA, PHASE_JUST_WOKE, advance_phase, fast_tanh
from impression.network import OneLayerNetwork

BASELINE_RATE = 0.01  # weight of the newest loss in the running baseline Lbar

# Rows of the per-step workspace, each a vector of length max(n_in, n).
(
    ROW_NOISE_IN,
    ROW_NOISE_REC,
    ROW_NOISE_GEN,
    ROW_NOISE_OBS,
    ROW_S_REC,  # x + sigma_in noise, recognition sample of the stimulus layer
    ROW_S_GEN,  # W_out r_gen + sigma_obs noise, generative sample of the stimulus layer
    ROW_S,  # mixed stimulus activity
    ROW_R_REC,  # tanh(W_in s_rec) + sigma_rec noise, recognition sample of the latent layer
    ROW_R_GEN,  # D r_{t-1} + sigma_gen noise, generative sample of the latent layer
    ROW_R,  # mixed latent activity
    ROW_MU_TOP,  # D r_{t-1}, or r_{t-1} on the first step after waking
    ROW_MU_LATENT,  # tanh(W_in s) from the mixed stimulus activity
    ROW_PREDICTION,  # W_out r from the mixed latent activity
    ROW_PREDICTION_REC,  # W_out r_rec
    ROW_GAIN,  # tanh'(W_in s) * (r - tanh(W_in s)), the latent factor of u_rec
    ROW_SCORE_D,  # u_D, zero on the first step after waking
) = range(16)
N_WORK_ROWS = 16


@dataclass(frozen=True)
class ReinforceVariant:
    """The five switches between the corrected rule and the authors' one."""

    reward_sign: float  # -1 descends the loss; the authors add +(L - Lbar) e, which climbs it
    square_latent_wake_term: bool  # False: the reward's latent wake term is sum(r - mu_rec) / sigma_rec^2
    reset_traces: bool  # False: traces carry over every reset of the activities
    # True: the generative score terms use the recognition samples in every phase, as the IL
    # wake update does. That is (x - W_out r_rec) r_rec^T for the stimulus layer, and the
    # middle layer's tanh form from r1_rec and r2_rec in the two-layer network.
    generative_score_from_recognition: bool
    baseline_updated_first: bool  # True: Lbar takes in L_t before the reward L_t - Lbar is formed


VARIANTS = {
    "corrected": ReinforceVariant(
        reward_sign=-1.0,
        square_latent_wake_term=True,
        reset_traces=True,
        generative_score_from_recognition=False,
        baseline_updated_first=False,
    ),
    "original": ReinforceVariant(
        reward_sign=1.0,
        square_latent_wake_term=False,
        reset_traces=False,
        generative_score_from_recognition=True,
        baseline_updated_first=True,
    ),
}


def variant_of(name):
    """Return the ReinforceVariant called name ('corrected' or 'original')."""
    try:
        return VARIANTS[name]
    except KeyError:
        raise ValueError(f"unknown reinforce_variant {name!r}; expected one of {', '.join(VARIANTS)}") from None


####################################################################
# Compiled step
####################################################################
@numba.njit(**JIT_OPTIONS)
def reward_and_baseline(reward_loss, baseline, baseline_rate, reward_sign, baseline_updated_first):
    """Return the reward factor reward_sign (L_t - Lbar) and update the running baseline Lbar in baseline[0].

    The corrected rule forms the reward with Lbar before its update. The
    authors' rule (baseline_updated_first) forms it after the update.
    """
    if baseline_updated_first:
        baseline[0] = (1.0 - baseline_rate) * baseline[0] + baseline_rate * reward_loss
        return reward_sign * (reward_loss - baseline[0])
    reward = reward_sign * (reward_loss - baseline[0])
    baseline[0] = (1.0 - baseline_rate) * baseline[0] + baseline_rate * reward_loss
    return reward


@numba.njit(**JIT_OPTIONS)
def reinforce_step(
    x_t,  # (n_in,) input datum
    W_in,  # (n, n_in) recognition weights (read only)
    W_out,  # (n_in, n) generative weights of the stimulus layer (read only)
    d,  # (n,) diagonal of D (read only)
    r_previous,  # (n,) previous mixed latent activity; set to this step's r on return
    phase,  # int64 (3,) phase state, see impression.kernels.PHASE_*; advanced on return
    trace_W_in,  # (n, n_in) eligibility trace e_rec, updated in place
    trace_W_out,  # (n_in, n) eligibility trace of W_out, updated in place
    trace_d,  # (n,) eligibility trace of D, updated in place
    baseline,  # (1,) running loss baseline Lbar, updated in place
    sigmas,  # (4,) noise s.d.: sigma_in, sigma_rec, sigma_gen, sigma_obs
    gamma,  # trace decay
    baseline_rate,  # weight of the newest loss in Lbar (0 keeps Lbar fixed)
    reward_sign,  # see ReinforceVariant
    square_latent_wake_term,  # see ReinforceVariant
    generative_score_from_recognition,  # see ReinforceVariant
    baseline_updated_first,  # see ReinforceVariant
    switch_period,  # phase length minus one
    switching,  # toggle phases
    rng,  # numpy Generator for the network noise
    work,  # (N_WORK_ROWS, max(n_in, n)) workspace, see ROW_*
    update_W_in,  # (n, n_in) output: REINFORCE update of W_in (without eta)
    update_W_out,  # (n_in, n) output: update of W_out (without eta)
    update_d,  # (n,) output: update of D's diagonal (without eta)
):
    """Run one step: sample all streams, compute the loss, the traces and the updates.

    Returns the loss with every term squared, whatever the variant, so the
    recorded losses of all rules are comparable. The weights are left
    unchanged; the caller applies eta times the updates.
    """
    n, n_in = W_in.shape
    sigma_in = sigmas[kernels.SIGMA_IN]
    sigma_rec = sigmas[kernels.SIGMA_REC]
    sigma_gen = sigmas[kernels.SIGMA_GEN]
    sigma_obs = sigmas[kernels.SIGMA_OBS]
    inv_var_in = 1.0 / sigma_in**2
    inv_var_rec = 1.0 / sigma_rec**2
    inv_var_gen = 1.0 / sigma_gen**2
    inv_var_obs = 1.0 / sigma_obs**2
    wake = phase[PHASE_DELTA] == 1
    just_woke = phase[PHASE_JUST_WOKE] == 1
    delta = 1.0 if wake else 0.0

    # noise of all four streams, in the order of impression.kernels
    for i in range(n_in):
        work[ROW_NOISE_IN, i] = rng.standard_normal()
    for j in range(n):
        work[ROW_NOISE_REC, j] = rng.standard_normal()
    for j in range(n):
        work[ROW_NOISE_GEN, j] = rng.standard_normal()
    for i in range(n_in):
        work[ROW_NOISE_OBS, i] = rng.standard_normal()

    # recognition stream, bottom-up from the input
    for i in range(n_in):
        work[ROW_S_REC, i] = x_t[i] + sigma_in * work[ROW_NOISE_IN, i]
    for j in range(n):
        total = 0.0
        for i in range(n_in):
            total += W_in[j, i] * work[ROW_S_REC, i]
        work[ROW_R_REC, j] = fast_tanh(total) + sigma_rec * work[ROW_NOISE_REC, j]

    # generative stream, top-down from the previous activity
    for j in range(n):
        if just_woke:
            work[ROW_MU_TOP, j] = r_previous[j]
        else:
            work[ROW_MU_TOP, j] = d[j] * r_previous[j]
        work[ROW_R_GEN, j] = work[ROW_MU_TOP, j] + sigma_gen * work[ROW_NOISE_GEN, j]
    for i in range(n_in):
        total = 0.0
        for j in range(n):
            total += W_out[i, j] * work[ROW_R_GEN, j]
        work[ROW_S_GEN, i] = total + sigma_obs * work[ROW_NOISE_OBS, i]

    # mixing, then the predictions of each stream from the mixed activities
    for i in range(n_in):
        work[ROW_S, i] = delta * work[ROW_S_REC, i] + (1.0 - delta) * work[ROW_S_GEN, i]
    for j in range(n):
        work[ROW_R, j] = delta * work[ROW_R_REC, j] + (1.0 - delta) * work[ROW_R_GEN, j]
    for j in range(n):
        total = 0.0
        for i in range(n_in):
            total += W_in[j, i] * work[ROW_S, i]
        work[ROW_MU_LATENT, j] = fast_tanh(total)
    for i in range(n_in):
        total = 0.0
        total_rec = 0.0
        for j in range(n):
            total += W_out[i, j] * work[ROW_R, j]
            total_rec += W_out[i, j] * work[ROW_R_REC, j]
        work[ROW_PREDICTION, i] = total
        work[ROW_PREDICTION_REC, i] = total_rec

    # loss with squared terms, and the (possibly unsquared) latent wake term of the reward
    loss = 0.0
    latent_rec_term = 0.0
    latent_rec_linear = 0.0
    for i in range(n_in):
        stimulus_gen = (work[ROW_S, i] - work[ROW_PREDICTION, i]) ** 2 * inv_var_obs
        stimulus_rec = (work[ROW_S, i] - x_t[i]) ** 2 * inv_var_in
        loss += delta * (stimulus_gen - stimulus_rec) + (1.0 - delta) * (stimulus_rec - stimulus_gen)
    for j in range(n):
        residual = work[ROW_R, j] - work[ROW_MU_LATENT, j]
        latent_gen = (work[ROW_R, j] - work[ROW_MU_TOP, j]) ** 2 * inv_var_gen
        latent_rec = residual**2 * inv_var_rec
        loss += delta * (latent_gen - latent_rec) + (1.0 - delta) * (latent_rec - latent_gen)
        latent_rec_term += latent_rec
        latent_rec_linear += residual * inv_var_rec
    reward_loss = loss
    if wake and not square_latent_wake_term:
        reward_loss = loss + latent_rec_term - latent_rec_linear

    reward = reward_and_baseline(reward_loss, baseline, baseline_rate, reward_sign, baseline_updated_first)

    # score terms of the latent layer
    for j in range(n):
        mu = work[ROW_MU_LATENT, j]
        work[ROW_GAIN, j] = (1.0 - mu * mu) * (work[ROW_R, j] - mu)
        if just_woke:
            work[ROW_SCORE_D, j] = 0.0
        else:
            work[ROW_SCORE_D, j] = (work[ROW_R, j] - d[j] * r_previous[j]) * r_previous[j]

    # recognition weights: trace of wake scores, IL's own update in sleep
    for j in range(n):
        for i in range(n_in):
            score = work[ROW_GAIN, j] * work[ROW_S, i]
            trace_W_in[j, i] = delta * score + gamma * trace_W_in[j, i]
            update_W_in[j, i] = (1.0 - delta) * score + reward * trace_W_in[j, i]

    # generative weights: trace of sleep scores, IL's own update in wake
    for i in range(n_in):
        wake_error = x_t[i] - work[ROW_PREDICTION_REC, i]
        if generative_score_from_recognition:
            score_error = wake_error
        else:
            score_error = work[ROW_S, i] - work[ROW_PREDICTION, i]
        for j in range(n):
            if generative_score_from_recognition:
                score = score_error * work[ROW_R_REC, j]
            else:
                score = score_error * work[ROW_R, j]
            trace_W_out[i, j] = (1.0 - delta) * score + gamma * trace_W_out[i, j]
            update_W_out[i, j] = delta * wake_error * work[ROW_R_REC, j] + reward * trace_W_out[i, j]
    for j in range(n):
        trace_d[j] = (1.0 - delta) * work[ROW_SCORE_D, j] + gamma * trace_d[j]
        update_d[j] = delta * work[ROW_SCORE_D, j] + reward * trace_d[j]

    # state for the next step
    for j in range(n):
        r_previous[j] = work[ROW_R, j]
    advance_phase(phase, switch_period, switching)
    return loss


@numba.njit(**JIT_OPTIONS)
def run_reinforce_steps(
    x,  # (T, n_in) input data x_t
    W_in,  # (n, n_in) recognition weights, updated in place when learning
    W_out,  # (n_in, n) generative weights, updated in place when learning
    d,  # (n,) diagonal of D, updated in place when learning
    r_previous,  # (n,) previous mixed latent activity, updated in place
    phase,  # int64 (3,) phase state, updated in place
    trace_W_in,  # (n, n_in) eligibility traces and baseline, updated in place
    trace_W_out,
    trace_d,
    baseline,
    sigmas,  # (4,) noise s.d.: sigma_in, sigma_rec, sigma_gen, sigma_obs
    eta,  # learning rate; ignored unless learn
    gamma,  # trace decay
    reward_sign,  # see ReinforceVariant
    square_latent_wake_term,
    generative_score_from_recognition,
    baseline_updated_first,
    switch_period,  # phase length minus one
    switching,  # toggle phases
    learn,  # apply eta times the updates
    rng,  # numpy Generator for the network noise
    loss_out,  # (T,) loss of every step
    r_out,  # (T, n) mixed latent activity, or (0, n) to skip
    prediction_out,  # (T, n_in) W_out r of every step, or (0, n_in) to skip
    s_out,  # (T, n_in) mixed stimulus activity, or (0, n_in) to skip
):
    """Run len(x) steps; return the index of the first non-finite loss, or -1."""
    n, n_in = W_in.shape
    work = np.zeros((N_WORK_ROWS, max(n, n_in)))
    update_W_in = np.zeros((n, n_in))
    update_W_out = np.zeros((n_in, n))
    update_d = np.zeros(n)
    for t in range(x.shape[0]):
        loss = reinforce_step(
            x[t], W_in, W_out, d, r_previous, phase, trace_W_in, trace_W_out, trace_d, baseline,
            sigmas, gamma, BASELINE_RATE, reward_sign, square_latent_wake_term,
            generative_score_from_recognition, baseline_updated_first, switch_period, switching, rng, work,
            update_W_in, update_W_out, update_d,
        )  # fmt: skip
        loss_out[t] = loss
        if not np.isfinite(loss):
            return t
        if r_out.shape[0] > 0:
            r_out[t, :] = work[ROW_R, :n]
        if prediction_out.shape[0] > 0:
            prediction_out[t, :] = work[ROW_PREDICTION, :n_in]
        if s_out.shape[0] > 0:
            s_out[t, :] = work[ROW_S, :n_in]

        if learn:
            for j in range(n):
                for i in range(n_in):
                    W_in[j, i] += eta * update_W_in[j, i]
            for i in range(n_in):
                for j in range(n):
                    W_out[i, j] += eta * update_W_out[i, j]
            for j in range(n):
                d[j] += eta * update_d[j]
    return -1


####################################################################
# Network
####################################################################
@dataclass
class ReinforceNetwork(OneLayerNetwork):
    """One-latent-layer network trained by REINFORCE; same interface as OneLayerNetwork."""

    trace_W_in: np.ndarray = None  # (n, n_in) eligibility trace of W_in
    trace_W_out: np.ndarray = None  # (n_in, n) eligibility trace of W_out
    trace_d: np.ndarray = None  # (n,) eligibility trace of D's diagonal
    baseline: np.ndarray = None  # (1,) running loss baseline Lbar
    variant: str = "corrected"  # key of VARIANTS

    @classmethod
    def initial(cls, n_in, n_neurons, D_init, rng, variant="corrected"):
        """Draw the weights as OneLayerNetwork.initial does (same rng, same numbers); traces 0."""
        return cls.from_network(OneLayerNetwork.initial(n_in, n_neurons, D_init, rng), variant)

    @classmethod
    def from_network(cls, network, variant="corrected"):
        """Return a REINFORCE network with copies of network's weights and state, traces and baseline 0."""
        variant_of(variant)
        n_in, n = network.W_out.shape
        return cls(
            W_in=network.W_in.copy(),
            W_out=network.W_out.copy(),
            d=network.d.copy(),
            r_previous=network.r_previous.copy(),
            phase=network.phase.copy(),
            trace_W_in=np.zeros((n, n_in)),
            trace_W_out=np.zeros((n_in, n)),
            trace_d=np.zeros(n),
            baseline=np.zeros(1),
            variant=variant,
        )

    def reset_state(self, wake=True):
        """Set all activities to 0 and start a phase; zero the traces unless the variant keeps them."""
        super().reset_state(wake)
        if self.trace_W_in is not None and variant_of(self.variant).reset_traces:
            self.trace_W_in[:] = 0.0
            self.trace_W_out[:] = 0.0
            self.trace_d[:] = 0.0

    def copy(self):
        return ReinforceNetwork(
            self.W_in.copy(),
            self.W_out.copy(),
            self.d.copy(),
            self.r_previous.copy(),
            self.phase.copy(),
            self.trace_W_in.copy(),
            self.trace_W_out.copy(),
            self.trace_d.copy(),
            self.baseline.copy(),
            self.variant,
        )

    def run(self, x, params, rng, learn, switching, record=(), draw_all_noise=True):
        """Run the steps of x; return (losses, records, first_bad_step) as OneLayerNetwork.run.

        Uses params['eta'], params['gamma'] (trace decay) and the network's
        variant. Traces and baseline evolve in every run, learning or not.
        Every step draws all four noise vectors, because the score terms
        and the original variant's stimulus score need both streams, so
        draw_all_noise is accepted for the common interface and ignored.
        """
        del draw_all_noise
        variant = variant_of(self.variant)
        n_steps = x.shape[0]
        n_in, n = self.W_out.shape
        losses = np.empty(n_steps)
        records = {
            "r": np.empty((n_steps if "r" in record else 0, n)),
            "prediction": np.empty((n_steps if "prediction" in record else 0, n_in)),
            "s": np.empty((n_steps if "s" in record else 0, n_in)),
        }
        first_bad_step = run_reinforce_steps(
            np.ascontiguousarray(x, dtype=np.float64),
            self.W_in, self.W_out, self.d, self.r_previous, self.phase,
            self.trace_W_in, self.trace_W_out, self.trace_d, self.baseline,
            sigma_vector(params),
            float(params["eta"]),
            float(params["gamma"]),
            variant.reward_sign,
            variant.square_latent_wake_term,
            variant.generative_score_from_recognition,
            variant.baseline_updated_first,
            int(params["switch_period"]),
            bool(switching),
            bool(learn),
            rng,
            losses, records["r"], records["prediction"], records["s"],
        )  # fmt: skip
        kept = {name: array for name, array in records.items() if name in record}
        return losses, kept, int(first_bad_step)


def sigma_vector(params):
    """Return the (4,) noise s.d. vector in the kernels' order."""
    return np.array([params["sigma_in"], params["sigma_rec"], params["sigma_gen"], params["sigma_obs"]], dtype=float)
