"""The one-latent-layer network: weights, state and the calls into the compiled loop."""

from dataclasses import dataclass

import numpy as np

from impression import kernels


@dataclass
class OneLayerNetwork:
    """Stimulus layer (n_in) below one latent layer (n) with a diagonal linear prior."""

    W_in: np.ndarray  # (n, n_in) recognition weights
    W_out: np.ndarray  # (n_in, n) generative weights, linear; kept in Fortran order
    d: np.ndarray  # (n,) diagonal of the latent dynamics D
    r_previous: np.ndarray  # (n,) previous mixed latent activity
    phase: np.ndarray  # int64 (3,): delta (1 wake), steps in phase, just woke

    def __post_init__(self):
        # The compiled loop reads and updates W_out column by column; Fortran
        # order makes that contiguous, which halves the time per step.
        self.W_out = np.asfortranarray(self.W_out)

    @classmethod
    def initial(cls, n_in, n_neurons, D_init, rng):
        """Draw W_in ~ N(0, (1/n_in)^2) and W_out ~ N(0, (1/n_neurons)^2); D = D_init I."""
        network = cls(
            W_in=rng.normal(0.0, 1.0 / n_in, size=(n_neurons, n_in)),
            W_out=rng.normal(0.0, 1.0 / n_neurons, size=(n_in, n_neurons)),
            d=np.full(n_neurons, float(D_init)),
            r_previous=np.zeros(n_neurons),
            phase=np.zeros(3, dtype=np.int64),
        )
        network.reset_state()
        return network

    def reset_state(self, wake=True):
        """Set all activities to 0 and start a phase (runs and epochs start in wake)."""
        self.r_previous[:] = 0.0
        self.phase[:] = 0
        self.phase[kernels.PHASE_DELTA] = 1 if wake else 0

    def copy(self):
        return OneLayerNetwork(
            self.W_in.copy(), self.W_out.copy(order="F"), self.d.copy(), self.r_previous.copy(), self.phase.copy()
        )

    def weights(self):
        """Return the weights as a dict of arrays (copies)."""
        return {"W_in": self.W_in.copy(), "W_out": np.array(self.W_out, order="C"), "D": self.d.copy()}

    def weights_finite(self):
        return bool(np.isfinite(self.W_in).all() and np.isfinite(self.W_out).all() and np.isfinite(self.d).all())

    def run(self, x, params, rng, learn, switching, record=(), draw_all_noise=True):
        """Run the steps of x through the network; return (losses, records, first_bad_step).

        record names the per-step trajectories to keep: 'r' (mixed latent
        activity), 'prediction' (W_out r) and 's' (mixed stimulus activity).
        first_bad_step is the index of the first non-finite loss, or -1; the
        run stops there. draw_all_noise=False draws only the active stream's
        noise (faster; for training, where no other run must share the noise).
        """
        n_steps = x.shape[0]
        n_in, n = self.W_out.shape
        losses = np.empty(n_steps)
        records = {
            "r": np.empty((n_steps if "r" in record else 0, n)),
            "prediction": np.empty((n_steps if "prediction" in record else 0, n_in)),
            "s": np.empty((n_steps if "s" in record else 0, n_in)),
        }
        sigmas = np.array([params["sigma_in"], params["sigma_rec"], params["sigma_gen"], params["sigma_obs"]])
        first_bad_step = kernels.run_impression_steps(
            np.ascontiguousarray(x, dtype=np.float64),
            self.W_in,
            self.W_out,
            self.d,
            self.r_previous,
            self.phase,
            sigmas,
            float(params["eta"]),
            int(params["switch_period"]),
            bool(switching),
            bool(learn),
            bool(draw_all_noise),
            rng,
            losses,
            records["r"],
            records["prediction"],
            records["s"],
        )
        kept = {name: array for name, array in records.items() if name in record}
        return losses, kept, int(first_bad_step)
