"""The two-latent-layer network of the spoken-digit experiment (Figure 4) and its compiled loop.

Layers, bottom to top: stimulus s (n_in mel bands), middle latent r1
(n_middle) and top latent r2 (n_top). Every layer has a recognition stream
driven from below and a generative stream driven from above (the top layer
from its own previous activity through the diagonal dynamics D):

    s_rec  = x + sigma_in noise              s_gen  = W_out0 r1_gen + sigma_obs noise
    r1_rec = tanh(W_in1 s_rec + b) + ...     r1_gen = tanh(W_out1 r2_gen + b_gen) + sigma_gen_middle noise
    r2_rec = tanh(W_in2 r1_rec) + ...        r2_gen = D r2_{t-1} + sigma_gen noise

with recognition noise sigma_rec_middle in the middle layer and sigma_rec at
the top. The phase gate picks one stream for every layer at once, so in wake
the activities are the recognition samples and in sleep the generative ones.

On the first step after a sleep-to-wake switch each latent layer's
generative prediction is its own previous activity, and the latent layers
(W_out1, b_gen, D) make no generative update; W_out0 still learns. The
authors' code does this for every latent layer, and the one-layer kernel
does it for its only latent layer.

The kernel runs a block of steps in place on the weights and the state.
It applies one of two learning rules. In impression learning (IL) each
stream learns to predict the activity that the other stream set. REINFORCE
adds a loss-modulated eligibility trace to IL's updates, in the corrected
or the authors' variant of impression.reinforce.VARIANTS. The noise comes
from the numpy Generator passed in. Every step draws all six noise vectors,
whatever the phase, in the order stimulus, middle and top recognition, then
top, middle and stimulus generative (the order of the passes), so runs with
one noise seed share the noise of every step.
"""

from dataclasses import dataclass

import numba
import numpy as np

from impression.kernels import JIT_OPTIONS, PHASE_DELTA, PHASE_JUST_WOKE, advance_phase, fast_tanh
from impression.reinforce import BASELINE_RATE, VARIANTS, reward_and_baseline, variant_of

# Layout of the float parameter vector of the kernel.
SIGMA_IN, SIGMA_REC_MIDDLE, SIGMA_REC_TOP, SIGMA_GEN_TOP, SIGMA_GEN_MIDDLE, SIGMA_OBS = range(6)

# Order of the arrays in the weight tuple and in the trace tuple of the kernel.
WEIGHT_NAMES = ("W_in1", "b", "W_in2", "W_out0", "W_out1", "b_gen", "D")

# Learning rules of the kernel.
RULE_IMPRESSION = 0
RULE_REINFORCE = 1


####################################################################
# compiled helpers
####################################################################
@numba.njit(**JIT_OPTIONS)
def _tanh_of_affine(W, a, bias, out):
    """out = tanh(W a + bias)."""
    for j in range(W.shape[0]):
        total = bias[j]
        for i in range(W.shape[1]):
            total += W[j, i] * a[i]
        out[j] = total
    for j in range(W.shape[0]):
        out[j] = fast_tanh(out[j])


@numba.njit(**JIT_OPTIONS)
def _linear(W, a, out):
    """out = W a."""
    for j in range(W.shape[0]):
        total = 0.0
        for i in range(W.shape[1]):
            total += W[j, i] * a[i]
        out[j] = total


@numba.njit(**JIT_OPTIONS)
def _squared_distance(a, b):
    total = 0.0
    for i in range(a.size):
        total += (a[i] - b[i]) ** 2
    return total


@numba.njit(**JIT_OPTIONS)
def _tanh_error(h, mu, out):
    """out = tanh'(.) (h - mu) for mu = tanh(.), the score of a tanh mean up to 1/sigma^2."""
    for j in range(h.size):
        out[j] = (1.0 - mu[j] ** 2) * (h[j] - mu[j])


@numba.njit(**JIT_OPTIONS)
def _add_outer(W, scale, post, pre):
    """W += scale post pre^T."""
    for j in range(W.shape[0]):
        factor = scale * post[j]
        for i in range(W.shape[1]):
            W[j, i] += factor * pre[i]


@numba.njit(**JIT_OPTIONS)
def _reinforce_matrix(W, trace, post, pre, to_trace, direct, decay, reward, eta):
    """Update one weight matrix with REINFORCE; the score of this step is post pre^T.

    trace <- to_trace score + decay trace, then
    W += eta (direct score + reward trace). to_trace and direct are 0 or 1.
    """
    for j in range(W.shape[0]):
        for i in range(W.shape[1]):
            score = post[j] * pre[i]
            trace[j, i] = to_trace * score + decay * trace[j, i]
            W[j, i] += eta * (direct * score + reward * trace[j, i])


@numba.njit(**JIT_OPTIONS)
def _reinforce_vector(w, trace, score, to_trace, direct, decay, reward, eta):
    """Update one vector parameter with REINFORCE as _reinforce_matrix does; score is the step's score."""
    for j in range(w.size):
        trace[j] = to_trace * score[j] + decay * trace[j]
        w[j] += eta * (direct * score[j] + reward * trace[j])


####################################################################
# compiled loop
####################################################################
@numba.njit(**JIT_OPTIONS)
def run_two_layer_steps(
    x,  # (T, n_in) input data x_t
    weights,  # tuple in WEIGHT_NAMES order, updated in place when learning
    r1_previous,  # (n_middle,) previous mixed middle-layer activity, updated in place
    r2_previous,  # (n_top,) previous mixed top-layer activity, updated in place
    phase,  # int64 (3,) phase state, see impression.kernels.PHASE_*, updated in place
    sigmas,  # (6,) noise s.d. in the SIGMA_* order
    eta,  # learning rate; ignored unless learn
    switch_period,  # phase length minus one
    switching,  # toggle phases (False: stay in the current phase)
    learn,  # apply the learning rule
    rule,  # RULE_IMPRESSION or RULE_REINFORCE
    traces,  # REINFORCE eligibility traces, a tuple shaped like weights; updated in place
    baseline,  # (1,) REINFORCE running mean of the loss, updated in place
    trace_decay,  # REINFORCE trace decay gamma
    baseline_rate,  # REINFORCE weight of the newest loss in the baseline
    reward_sign,  # REINFORCE switches of impression.reinforce.ReinforceVariant
    square_latent_wake_term,
    generative_score_from_recognition,
    baseline_updated_first,
    rng,  # numpy Generator for the network noise
    loss_out,  # (T,) loss of every step (always the squared form)
    s_out,  # (T, n_in) mixed stimulus activity, or (0, n_in) to skip
    r1_out,  # (T, n_middle) mixed middle activity, or (0, n_middle) to skip
    r2_out,  # (T, n_top) mixed top activity, or (0, n_top) to skip
    prediction_out,  # (T, n_in) W_out0 r1 of every step, or (0, n_in) to skip
):
    """Run len(x) steps; return the index of the first non-finite loss, or -1."""
    W_in1, b, W_in2, W_out0, W_out1, b_gen, d = weights
    e_W_in1, e_b, e_W_in2, e_W_out0, e_W_out1, e_b_gen, e_d = traces
    n_steps, n_in = x.shape
    n_middle = b.size
    n_top = d.size
    inv_var_in = 1.0 / sigmas[SIGMA_IN] ** 2
    inv_var_rec_middle = 1.0 / sigmas[SIGMA_REC_MIDDLE] ** 2
    inv_var_rec_top = 1.0 / sigmas[SIGMA_REC_TOP] ** 2
    inv_var_gen_top = 1.0 / sigmas[SIGMA_GEN_TOP] ** 2
    inv_var_gen_middle = 1.0 / sigmas[SIGMA_GEN_MIDDLE] ** 2
    inv_var_obs = 1.0 / sigmas[SIGMA_OBS] ** 2
    reinforce = rule == RULE_REINFORCE

    # noise of the six streams, one buffer in draw order
    sizes = np.array([n_in, n_middle, n_top, n_top, n_middle, n_in])
    ends = np.cumsum(sizes)
    noise = np.empty(ends[-1])
    noise_in = noise[0 : ends[0]]
    noise_rec_middle = noise[ends[0] : ends[1]]
    noise_rec_top = noise[ends[1] : ends[2]]
    noise_gen_top = noise[ends[2] : ends[3]]
    noise_gen_middle = noise[ends[3] : ends[4]]
    noise_obs = noise[ends[4] : ends[5]]

    s = np.empty(n_in)
    r1 = np.empty(n_middle)
    r2 = np.empty(n_top)
    mu_top = np.empty(n_top)  # D r2_{t-1}, or r2_{t-1} on the first step after waking
    mu_rec_middle = np.empty(n_middle)  # tanh(W_in1 s + b)
    mu_rec_top = np.empty(n_top)  # tanh(W_in2 r1)
    mu_gen_middle = np.empty(n_middle)  # tanh(W_out1 r2 + b_gen), or r1_{t-1} on the first step after waking
    prediction = np.empty(n_in)  # W_out0 r1
    no_bias = np.zeros(n_top)
    error_in = np.empty(n_in)  # post-synaptic factor of W_out0's update
    u_middle = np.empty(n_middle)  # tanh'(.) (r1 - mu_rec_middle)
    u_top = np.empty(n_top)  # tanh'(.) (r2 - mu_rec_top)
    g_middle = np.empty(n_middle)  # tanh'(.) (r1 - mu_gen_middle)
    score_d = np.empty(n_top)  # (r2 - D r2_{t-1}) r2_{t-1}
    # recognition samples in sleep, for the authors' generative scores
    s_rec = np.empty(n_in)  # x + sigma_in noise
    r1_rec = np.empty(n_middle)  # tanh(W_in1 s_rec + b) + sigma_rec_middle noise
    r2_rec = np.empty(n_top)  # tanh(W_in2 r1_rec) + sigma_rec noise
    mu_gen_middle_rec = np.empty(n_middle)  # tanh(W_out1 r2_rec + b_gen)

    for t in range(n_steps):
        wake = phase[PHASE_DELTA] == 1
        just_woke = phase[PHASE_JUST_WOKE] == 1
        for k in range(noise.size):
            noise[k] = rng.standard_normal()
        for j in range(n_top):
            mu_top[j] = r2_previous[j] if just_woke else d[j] * r2_previous[j]

        if wake:
            # recognition pass bottom-up sets the activities
            for i in range(n_in):
                s[i] = x[t, i] + sigmas[SIGMA_IN] * noise_in[i]
            _tanh_of_affine(W_in1, s, b, mu_rec_middle)
            for j in range(n_middle):
                r1[j] = mu_rec_middle[j] + sigmas[SIGMA_REC_MIDDLE] * noise_rec_middle[j]
            _tanh_of_affine(W_in2, r1, no_bias, mu_rec_top)
            for j in range(n_top):
                r2[j] = mu_rec_top[j] + sigmas[SIGMA_REC_TOP] * noise_rec_top[j]
            # generative predictions of those activities, from the parents' recognition samples;
            # on the first step after waking every latent layer predicts its previous activity
            if just_woke:
                mu_gen_middle[:] = r1_previous
            else:
                _tanh_of_affine(W_out1, r2, b_gen, mu_gen_middle)
            _linear(W_out0, r1, prediction)
        else:
            # generative pass top-down sets the activities
            for j in range(n_top):
                r2[j] = mu_top[j] + sigmas[SIGMA_GEN_TOP] * noise_gen_top[j]
            _tanh_of_affine(W_out1, r2, b_gen, mu_gen_middle)
            for j in range(n_middle):
                r1[j] = mu_gen_middle[j] + sigmas[SIGMA_GEN_MIDDLE] * noise_gen_middle[j]
            _linear(W_out0, r1, prediction)
            for i in range(n_in):
                s[i] = prediction[i] + sigmas[SIGMA_OBS] * noise_obs[i]
            # recognition predictions of those activities, from the children's generative samples
            _tanh_of_affine(W_in1, s, b, mu_rec_middle)
            _tanh_of_affine(W_in2, r1, no_bias, mu_rec_top)

        # loss: generative minus recognition squared errors in wake, the reverse in sleep
        generative_terms = (
            _squared_distance(s, prediction) * inv_var_obs
            + _squared_distance(r1, mu_gen_middle) * inv_var_gen_middle
            + _squared_distance(r2, mu_top) * inv_var_gen_top
        )
        recognition_input = _squared_distance(s, x[t]) * inv_var_in
        recognition_latent = (
            _squared_distance(r1, mu_rec_middle) * inv_var_rec_middle
            + _squared_distance(r2, mu_rec_top) * inv_var_rec_top
        )
        if wake:
            loss = generative_terms - recognition_input - recognition_latent
        else:
            loss = recognition_input + recognition_latent - generative_terms
        loss_out[t] = loss
        if not np.isfinite(loss):
            return t
        if s_out.shape[0] > 0:
            s_out[t, :] = s
        if r1_out.shape[0] > 0:
            r1_out[t, :] = r1
        if r2_out.shape[0] > 0:
            r2_out[t, :] = r2
        if prediction_out.shape[0] > 0:
            prediction_out[t, :] = prediction

        if learn:
            # post-synaptic factors of the updates and scores
            _tanh_error(r1, mu_rec_middle, u_middle)
            _tanh_error(r2, mu_rec_top, u_top)
            _tanh_error(r1, mu_gen_middle, g_middle)
            for j in range(n_top):
                score_d[j] = (r2[j] - d[j] * r2_previous[j]) * r2_previous[j]
            # W_out0 learns from the raw input in wake (IL) and from its own sample in sleep (score)
            for i in range(n_in):
                error_in[i] = (x[t, i] if wake else s[i]) - prediction[i]
            r1_pre = r1
            r2_pre = r2
            if reinforce and generative_score_from_recognition and not wake:
                # the authors' scores: the recognition samples (and x_t), also in sleep
                for i in range(n_in):
                    s_rec[i] = x[t, i] + sigmas[SIGMA_IN] * noise_in[i]
                _tanh_of_affine(W_in1, s_rec, b, r1_rec)
                for j in range(n_middle):
                    r1_rec[j] += sigmas[SIGMA_REC_MIDDLE] * noise_rec_middle[j]
                _tanh_of_affine(W_in2, r1_rec, no_bias, r2_rec)
                for j in range(n_top):
                    r2_rec[j] += sigmas[SIGMA_REC_TOP] * noise_rec_top[j]
                _linear(W_out0, r1_rec, error_in)
                for i in range(n_in):
                    error_in[i] = x[t, i] - error_in[i]
                _tanh_of_affine(W_out1, r2_rec, b_gen, mu_gen_middle_rec)
                _tanh_error(r1_rec, mu_gen_middle_rec, g_middle)
                r1_pre = r1_rec
                r2_pre = r2_rec

        if learn and not reinforce:
            # impression learning: each stream learns to predict the activities the other set
            if wake:
                _add_outer(W_out0, eta, error_in, r1)
                # the latent layers make no generative update on the first step after waking
                if not just_woke:
                    _add_outer(W_out1, eta, g_middle, r2)
                    for j in range(n_middle):
                        b_gen[j] += eta * g_middle[j]
                    for j in range(n_top):
                        d[j] += eta * score_d[j]
            else:
                _add_outer(W_in1, eta, u_middle, s)
                for j in range(n_middle):
                    b[j] += eta * u_middle[j]
                _add_outer(W_in2, eta, u_top, r1)
        elif learn:
            # REINFORCE: IL's update of the phase plus the reward times the other phase's trace
            reward_loss = loss
            if wake and not square_latent_wake_term:
                reward_loss = generative_terms - recognition_input
                for j in range(n_middle):
                    reward_loss -= (r1[j] - mu_rec_middle[j]) * inv_var_rec_middle
                for j in range(n_top):
                    reward_loss -= (r2[j] - mu_rec_top[j]) * inv_var_rec_top
            reward = reward_and_baseline(reward_loss, baseline, baseline_rate, reward_sign, baseline_updated_first)
            delta = 1.0 if wake else 0.0
            sleep = 1.0 - delta
            direct_latent_gen = 0.0 if just_woke else delta

            # recognition weights: the score joins the trace in wake and is IL's update in sleep
            _reinforce_matrix(W_in1, e_W_in1, u_middle, s, delta, sleep, trace_decay, reward, eta)
            _reinforce_vector(b, e_b, u_middle, delta, sleep, trace_decay, reward, eta)
            _reinforce_matrix(W_in2, e_W_in2, u_top, r1, delta, sleep, trace_decay, reward, eta)
            # generative weights: IL's update in wake, the score joins the trace in sleep
            _reinforce_matrix(W_out0, e_W_out0, error_in, r1_pre, sleep, delta, trace_decay, reward, eta)
            _reinforce_matrix(W_out1, e_W_out1, g_middle, r2_pre, sleep, direct_latent_gen, trace_decay, reward, eta)
            _reinforce_vector(b_gen, e_b_gen, g_middle, sleep, direct_latent_gen, trace_decay, reward, eta)
            _reinforce_vector(d, e_d, score_d, sleep, direct_latent_gen, trace_decay, reward, eta)

        # state for the next step
        r1_previous[:] = r1
        r2_previous[:] = r2
        advance_phase(phase, switch_period, switching)
    return -1


####################################################################
# network
####################################################################
def kernel_sigmas(params):
    """Return the kernel's noise s.d. vector (SIGMA_* order) from a run's parameters."""
    sigmas = np.empty(6)
    sigmas[SIGMA_IN] = params["sigma_in"]
    sigmas[SIGMA_REC_MIDDLE] = params["sigma_rec_middle"]
    sigmas[SIGMA_REC_TOP] = params["sigma_rec"]
    sigmas[SIGMA_GEN_TOP] = params["sigma_gen"]
    sigmas[SIGMA_GEN_MIDDLE] = params["sigma_gen_middle"]
    sigmas[SIGMA_OBS] = params["sigma_obs"]
    return sigmas


def _rule_of(params):
    algorithm = params["algorithm"]
    if algorithm in ("impression", "wake_sleep"):
        return RULE_IMPRESSION
    if algorithm == "reinforce":
        return RULE_REINFORCE
    raise ValueError(f"algorithm {algorithm!r} is invalid for the two-layer network; expected impression or reinforce")


@dataclass
class TwoLayerNetwork:
    """Stimulus layer (n_in) below a middle (n_middle) and a top (n_top) latent layer."""

    W_in1: np.ndarray  # (n_middle, n_in) recognition weights of the middle layer
    b: np.ndarray  # (n_middle,) recognition bias of the middle layer
    W_in2: np.ndarray  # (n_top, n_middle) recognition weights of the top layer
    W_out0: np.ndarray  # (n_in, n_middle) generative weights of the stimulus layer, linear
    W_out1: np.ndarray  # (n_middle, n_top) generative weights of the middle layer
    b_gen: np.ndarray  # (n_middle,) generative bias of the middle layer
    d: np.ndarray  # (n_top,) diagonal of the top-layer dynamics D
    r1_previous: np.ndarray  # (n_middle,) previous mixed middle-layer activity
    r2_previous: np.ndarray  # (n_top,) previous mixed top-layer activity
    phase: np.ndarray  # int64 (3,): delta (1 wake), steps in phase, just woke
    traces: tuple  # REINFORCE eligibility traces, shaped like the weights (WEIGHT_NAMES order)
    baseline: np.ndarray  # (1,) REINFORCE running mean of the loss

    @classmethod
    def initial(cls, n_in, n_middle, n_top, D_init, rng):
        """Draw W_in ~ N(0, (1/fan_in)^2) and W_out ~ N(0, (1/fan_in_from_above)^2); D = D_init I, biases 0.

        The draws are in the order W_in1, W_in2, W_out0, W_out1.
        """
        W_in1 = rng.normal(0.0, 1.0 / n_in, size=(n_middle, n_in))
        W_in2 = rng.normal(0.0, 1.0 / n_middle, size=(n_top, n_middle))
        W_out0 = rng.normal(0.0, 1.0 / n_middle, size=(n_in, n_middle))
        W_out1 = rng.normal(0.0, 1.0 / n_top, size=(n_middle, n_top))
        return cls.from_weights(
            dict(
                W_in1=W_in1,
                b=np.zeros(n_middle),
                W_in2=W_in2,
                W_out0=W_out0,
                W_out1=W_out1,
                b_gen=np.zeros(n_middle),
                D=np.full(n_top, float(D_init)),
            )
        )

    @classmethod
    def from_weights(cls, weights):
        """Build a network at rest (in wake, traces and baseline 0) from a dict keyed by WEIGHT_NAMES."""
        arrays = [np.array(weights[name], dtype=np.float64) for name in WEIGHT_NAMES]
        n_middle = arrays[1].size
        n_top = arrays[-1].size
        network = cls(
            *arrays,
            r1_previous=np.zeros(n_middle),
            r2_previous=np.zeros(n_top),
            phase=np.zeros(3, dtype=np.int64),
            traces=tuple(np.zeros_like(array) for array in arrays),
            baseline=np.zeros(1),
        )
        network.reset_state()
        return network

    def weight_arrays(self):
        """Return the weight arrays themselves (not copies) in WEIGHT_NAMES order."""
        return (self.W_in1, self.b, self.W_in2, self.W_out0, self.W_out1, self.b_gen, self.d)

    def reset_state(self, wake=True, reset_traces=True):
        """Set all activities to 0 and start a phase; reset_traces also zeroes the REINFORCE traces."""
        self.r1_previous[:] = 0.0
        self.r2_previous[:] = 0.0
        self.phase[:] = 0
        self.phase[PHASE_DELTA] = 1 if wake else 0
        if reset_traces:
            for trace in self.traces:
                trace[...] = 0.0

    def copy(self):
        copied = TwoLayerNetwork.from_weights(self.weights())
        copied.r1_previous[:] = self.r1_previous
        copied.r2_previous[:] = self.r2_previous
        copied.phase[:] = self.phase
        for target, source in zip(copied.traces, self.traces, strict=True):
            target[...] = source
        copied.baseline[:] = self.baseline
        return copied

    def weights(self):
        """Return the weights as a dict of arrays (copies) keyed by WEIGHT_NAMES."""
        return {name: array.copy() for name, array in zip(WEIGHT_NAMES, self.weight_arrays(), strict=True)}

    def weights_finite(self):
        return all(np.isfinite(array).all() for array in self.weight_arrays())

    def run(self, x, params, rng, learn, switching, record=()):
        """Run the steps of x through the network; return (losses, records, first_bad_step).

        params gives the noise s.d. (sigma_in, sigma_rec_middle, sigma_rec,
        sigma_gen, sigma_gen_middle, sigma_obs), eta, switch_period, the
        algorithm ('impression' or 'reinforce') and, for REINFORCE, gamma
        and reinforce_variant. record names the per-step trajectories to
        keep: 's', 'r1', 'r2' (mixed activities) and 'prediction'
        (W_out0 r1). first_bad_step is the index of the first non-finite
        loss, or -1; the run stops there.
        """
        x = np.ascontiguousarray(x, dtype=np.float64)
        n_steps, n_in = x.shape
        if n_in != self.W_out0.shape[0]:
            raise ValueError(f"x has {n_in} columns but the network has {self.W_out0.shape[0]} inputs")
        sizes = {"s": n_in, "r1": self.b.size, "r2": self.d.size, "prediction": n_in}
        records = {name: np.empty((n_steps if name in record else 0, size)) for name, size in sizes.items()}
        rule = _rule_of(params)
        # IL ignores the REINFORCE arguments
        variant = variant_of(params["reinforce_variant"]) if rule == RULE_REINFORCE else VARIANTS["corrected"]
        trace_decay = float(params["gamma"]) if rule == RULE_REINFORCE else 0.0
        losses = np.empty(n_steps)
        first_bad_step = run_two_layer_steps(
            x,
            self.weight_arrays(),
            self.r1_previous,
            self.r2_previous,
            self.phase,
            kernel_sigmas(params),
            float(params["eta"]),
            int(params["switch_period"]),
            bool(switching),
            bool(learn),
            rule,
            self.traces,
            self.baseline,
            trace_decay,
            BASELINE_RATE,
            variant.reward_sign,
            variant.square_latent_wake_term,
            variant.generative_score_from_recognition,
            variant.baseline_updated_first,
            rng,
            losses,
            records["s"],
            records["r1"],
            records["r2"],
            records["prediction"],
        )
        kept = {name: array for name, array in records.items() if name in record}
        return losses, kept, int(first_bad_step)
