"""Parameters of the backpropagation control (il_backprop.py).

Bredenberg, Lyo, Simoncelli & Savin, "Impression learning: Online
representation learning with synaptic plasticity", NeurIPS 2021.

The control trains the impression-learning network of il_exp_params.py (one
latent layer, linear generative prediction) by stochastic gradient descent
on the wake loss, with the gradients taken by PyTorch autograd. Edit
``mode`` below or pass ``--mode``. Any parameter can be overridden from the
command line as ``--key=value``. The array index (``--array-num``, else
``SLURM_ARRAY_TASK_ID``, else 1) sets the network size, as ``array_params``
below defines.

Mode and figure: 'dimensionality', the backprop curve of Figure 2e
(asymptotic wake test loss against dimension).
"""

import math

mode = "dimensionality"

####################################################################
# Values shared by every mode
####################################################################
DT = 0.1  # time step of the latent process
SIGMA_D = 0.5 * math.sqrt(DT)  # latent innovation s.d. sigma_d = 0.1581; a = 1 - sigma_d^2 = 0.975

COMMON = dict(
    dt=DT,  # time step of the latent process
    sigma_in=0.01,  # recognition noise s.d. of the stimulus layer
    sigma_obs=0.01,  # generative noise s.d. of the stimulus layer
    sigma_rec=0.01,  # recognition noise s.d. of the latent layer
    sigma_gen=SIGMA_D,  # generative noise s.d. of the top latent layer: the data's sigma_d
    D_init=0.6,  # initial diagonal of the latent dynamics matrix D
    lr=1e-6,  # SGD learning rate of W_in and W_out (no momentum)
    lr_D=None,  # SGD learning rate of the diagonal of D; None: lr * sigma_gen^2 / sigma_rec^2 = 2.5e-4
    n_train=300_000,  # training steps, one sample each, all in wake
    n_test=30_000,  # steps of the test sequence, run without learning
    n_snapshots=20,  # test points from before learning (step 0) to after the last step, evenly spaced;
    # the test loss at each is the mean wake loss over the test sequence
    algorithm="backprop",  # learning rule; the only one of this control
    seed=None,  # random seed of the run; None derives it from the array index
    data_dir="data",  # results folder, relative to this file unless absolute
    figures_dir="figures",  # figures folder, relative to this file unless absolute; il_backprop.py draws none
)

####################################################################
# One block per mode (values that differ from COMMON)
####################################################################
PARAMS = {
    # Figure 2e: asymptotic wake test loss against dimension; k = 1..5 from the array index
    "dimensionality": dict(
        n_latent=2,  # 2^k, set by the array index
        n_in=4,  # 2^(k+1), set by the array index
        n_neurons=2,  # 2^k, set by the array index
        seed=1,  # the seed of the dimensionality mode, so backprop gets the same data and initial weights as IL
    ),
}

# Allowed values of the string parameters.
CHOICES = dict(
    algorithm=("backprop",),
)

# Valid array indices of each mode (inclusive).
ARRAY_RANGE = {
    "dimensionality": (1, 5),  # k = 1..5
}


def array_params(mode, array_num):
    """Return the parameters that the array index sets in mode."""
    if mode == "dimensionality":
        k = array_num
        return dict(n_latent=2**k, n_in=2 ** (k + 1), n_neurons=2**k)
    return {}
