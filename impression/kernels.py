"""Compiled per-step loop of the one-latent-layer network with the impression-learning rule.

One call runs a block of consecutive steps over the rows of x, in place on
the weights and the network state, so a long run is a sequence of calls
over chunks of data. The noise comes from the numpy Generator passed in
(numba draws from it with numpy's own algorithms and advances its state),
so the same seed gives the same numbers with or without the compiler.

Only the stream that sets the activity (and the predictions the loss
needs) is computed, because the other stream influences nothing in that
phase. With draw_all_noise, every step still draws all four noise vectors,
in the order stimulus recognition, latent recognition, latent generative,
stimulus generative, whatever the phase: the wake-only and the alternating
test sequences run with one noise seed then share the noise of every
step. Without it (training) a step draws only the two vectors of its
active stream, which halves the sampling cost.
"""

import numba
import numpy as np

# LLVM fast-math flags that allow reordering sums (so loops vectorise) but
# keep NaN and infinity semantics, which the divergence check relies on.
FASTMATH = {"reassoc", "contract", "nsz", "arcp"}

# Options of every compiled function of the project. error_model 'numpy'
# lets a float division by zero give inf or NaN instead of raising, which
# removes the branch that otherwise stops LLVM from vectorising any loop
# with a division in it.
JIT_OPTIONS = dict(cache=True, fastmath=FASTMATH, error_model="numpy")

# Constants of fast_tanh's range reduction y = n ln2 + r: ln 2 split into a
# high part with trailing zero bits (so n * LN2_HI is exact) and the rest.
LN2_HI = 6.93147180369123816490e-01
LN2_LO = 1.90821492927058770002e-10
INV_LN2 = 1.44269504088896338700e00
POWERS_OF_TWO = np.ldexp(1.0, np.arange(64))  # 2^n for the n of 2|x| <= 40

# Layout of the integer phase state carried between calls.
PHASE_DELTA = 0  # 1 wake, 0 sleep
PHASE_COUNTER = 1  # steps taken in the current phase
PHASE_JUST_WOKE = 2  # 1 on the first step after a sleep-to-wake switch

# Layout of the float parameter vector.
SIGMA_IN, SIGMA_REC, SIGMA_GEN, SIGMA_OBS = 0, 1, 2, 3


@numba.njit(**JIT_OPTIONS)
def fast_tanh(x):
    """Return tanh(x) within a few ulp of the C library's, in a form that LLVM vectorises.

    tanh|x| = m / (m + 2) with m = exp(2|x|) - 1, and m = 2^n (1 + q(r)) - 1
    after the reduction 2|x| = n ln2 + r, |r| <= ln2 / 2, where q is the
    Taylor polynomial of expm1 to degree 13 (truncation error below 1e-17).
    Forming m this way keeps full relative precision for tiny |x|. The C
    library's tanh is a call per element, which keeps the loops around it
    scalar and costs about three times as much per element.
    Beyond |x| = 20, tanh(x) rounds to +-1. NaN stays NaN.
    """
    y = 2.0 * abs(x)
    y = 40.0 if y > 40.0 else y
    n = np.floor(y * INV_LN2 + 0.5)
    r = (y - n * LN2_HI) - n * LN2_LO
    # the index is clamped as an integer, so a NaN input cannot read outside the table
    scale = POWERS_OF_TWO[min(np.uint64(n), np.uint64(63))]
    q = r + r * r * (
        1 / 2 + r * (1 / 6 + r * (1 / 24 + r * (1 / 120 + r * (1 / 720 + r * (1 / 5040 + r * (
            1 / 40320 + r * (1 / 362880 + r * (1 / 3628800 + r * (1 / 39916800 + r * (
                1 / 479001600 + r * (1 / 6227020800)))))))))))
    )  # fmt: skip
    m = (scale - 1.0) + scale * q
    return np.copysign(m / (m + 2.0), x)


@numba.njit(**JIT_OPTIONS)
def advance_phase(phase, switch_period, switching):
    """Count one step and toggle wake and sleep after switch_period + 1 steps in a phase."""
    phase[PHASE_JUST_WOKE] = 0
    if not switching:
        return
    phase[PHASE_COUNTER] += 1
    if phase[PHASE_COUNTER] > switch_period:
        phase[PHASE_COUNTER] = 0
        phase[PHASE_DELTA] = 1 - phase[PHASE_DELTA]
        phase[PHASE_JUST_WOKE] = phase[PHASE_DELTA]


@numba.njit(**JIT_OPTIONS)
def generative_prediction(W_out, r, prediction):
    """Set prediction = W_out r, column by column (contiguous for the Fortran-ordered W_out)."""
    prediction[:] = 0.0
    for j in range(r.shape[0]):
        for i in range(prediction.shape[0]):
            prediction[i] += W_out[i, j] * r[j]


@numba.njit(**JIT_OPTIONS)
def recognition_mean(W_in, s, mu):
    """Set mu = tanh(W_in s); the dot products and the tanh run as separate loops so both vectorise."""
    for j in range(mu.shape[0]):
        total = 0.0
        for i in range(s.shape[0]):
            total += W_in[j, i] * s[i]
        mu[j] = total
    for j in range(mu.shape[0]):
        mu[j] = fast_tanh(mu[j])


@numba.njit(**JIT_OPTIONS)
def run_impression_steps(
    x,  # (T, n_in) input data x_t
    W_in,  # (n, n_in) recognition weights, updated in place when learning
    W_out,  # (n_in, n) generative weights of the stimulus layer, Fortran order, updated in place
    d,  # (n,) diagonal of the latent dynamics D, updated in place
    r_previous,  # (n,) previous mixed latent activity, updated in place
    phase,  # int64 (3,) phase state, see PHASE_*, updated in place
    sigmas,  # (4,) noise s.d.: sigma_in, sigma_rec, sigma_gen, sigma_obs
    eta,  # learning rate; ignored unless learn
    switch_period,  # phase length minus one
    switching,  # toggle phases (False: stay in the current phase)
    learn,  # apply the impression-learning updates
    draw_all_noise,  # draw the inactive stream's noise too, keeping runs with one seed aligned
    rng,  # numpy Generator for the network noise
    loss_out,  # (T,) loss of every step
    r_out,  # (T, n) mixed latent activity, or (0, n) to skip
    prediction_out,  # (T, n_in) W_out r of every step, or (0, n_in) to skip
    s_out,  # (T, n_in) mixed stimulus activity, or (0, n_in) to skip
):
    """Run len(x) steps; return the index of the first non-finite loss, or -1."""
    n_steps, n_in = x.shape
    n = d.shape[0]
    sigma_in = sigmas[SIGMA_IN]
    sigma_rec = sigmas[SIGMA_REC]
    sigma_gen = sigmas[SIGMA_GEN]
    sigma_obs = sigmas[SIGMA_OBS]
    inv_var_in = 1.0 / sigma_in**2
    inv_var_rec = 1.0 / sigma_rec**2
    inv_var_gen = 1.0 / sigma_gen**2
    inv_var_obs = 1.0 / sigma_obs**2
    record_r = r_out.shape[0] > 0
    record_prediction = prediction_out.shape[0] > 0
    record_s = s_out.shape[0] > 0

    noise_in = np.empty(n_in)
    noise_rec = np.empty(n)
    noise_gen = np.empty(n)
    noise_obs = np.empty(n_in)
    s = np.empty(n_in)
    r = np.empty(n)
    mu_top = np.empty(n)  # generative mean of the top layer, D r_{t-1}
    mu_latent = np.empty(n)  # tanh(W_in s), the recognition mean from the stimulus layer
    prediction = np.empty(n_in)  # W_out r
    error = np.empty(n_in)  # eta (x - W_out r), the stimulus layer's wake error

    for t in range(n_steps):
        wake = phase[PHASE_DELTA] == 1
        just_woke = phase[PHASE_JUST_WOKE] == 1

        # noise: recognition streams, then generative streams
        if wake or draw_all_noise:
            for i in range(n_in):
                noise_in[i] = rng.standard_normal()
            for j in range(n):
                noise_rec[j] = rng.standard_normal()
        if not wake or draw_all_noise:
            for j in range(n):
                noise_gen[j] = rng.standard_normal()
            for i in range(n_in):
                noise_obs[i] = rng.standard_normal()

        # top-layer generative mean: D r_{t-1}, or r_{t-1} itself on the first wake step
        for j in range(n):
            mu_top[j] = r_previous[j] if just_woke else d[j] * r_previous[j]

        loss = 0.0
        if wake:
            # recognition pass sets the activities: s = x + noise, r = tanh(W_in s) + noise
            for i in range(n_in):
                s[i] = x[t, i] + sigma_in * noise_in[i]
            recognition_mean(W_in, s, mu_latent)
            for j in range(n):
                r[j] = mu_latent[j] + sigma_rec * noise_rec[j]
            generative_prediction(W_out, r, prediction)

            # wake loss: generative predictions against recognition activities
            for i in range(n_in):
                loss += (s[i] - prediction[i]) ** 2 * inv_var_obs - (s[i] - x[t, i]) ** 2 * inv_var_in
            for j in range(n):
                loss += (r[j] - mu_top[j]) ** 2 * inv_var_gen - (r[j] - mu_latent[j]) ** 2 * inv_var_rec
        else:
            # generative pass sets the activities: r = D r_{t-1} + noise, s = W_out r + noise
            for j in range(n):
                r[j] = mu_top[j] + sigma_gen * noise_gen[j]
            generative_prediction(W_out, r, prediction)
            for i in range(n_in):
                s[i] = prediction[i] + sigma_obs * noise_obs[i]
            recognition_mean(W_in, s, mu_latent)

            # sleep loss: recognition predictions against generated activities
            for i in range(n_in):
                loss += (s[i] - x[t, i]) ** 2 * inv_var_in - (s[i] - prediction[i]) ** 2 * inv_var_obs
            for j in range(n):
                loss += (r[j] - mu_latent[j]) ** 2 * inv_var_rec - (r[j] - mu_top[j]) ** 2 * inv_var_gen

        loss_out[t] = loss
        if not np.isfinite(loss):
            return t
        if record_r:
            r_out[t, :] = r
        if record_prediction:
            prediction_out[t, :] = prediction
        if record_s:
            s_out[t, :] = s

        # impression-learning updates: each stream learns to predict the other
        if learn and wake:
            for i in range(n_in):
                error[i] = eta * (x[t, i] - prediction[i])
            for j in range(n):
                for i in range(n_in):
                    W_out[i, j] += error[i] * r[j]
            if not just_woke:
                for j in range(n):
                    d[j] += eta * (r[j] - d[j] * r_previous[j]) * r_previous[j]
        elif learn:
            for j in range(n):
                u = eta * (1.0 - mu_latent[j] ** 2) * (r[j] - mu_latent[j])
                for i in range(n_in):
                    W_in[j, i] += u * s[i]

        # state for the next step
        r_previous[:] = r
        advance_phase(phase, switch_period, switching)
    return -1
