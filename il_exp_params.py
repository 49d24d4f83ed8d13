"""Parameters of every experiment of the impression-learning reproduction.

Bredenberg, Lyo, Simoncelli & Savin, "Impression learning: Online
representation learning with synaptic plasticity", NeurIPS 2021.

Edit ``mode`` below to choose the experiment, or pass ``--mode`` to
``impression_learning.py``. Any parameter can be overridden from the command
line as ``--key=value``. The SLURM array index (``--array-num``, else
``SLURM_ARRAY_TASK_ID``, else 1) selects the seed, the network size or the
switch period, as ``array_params`` below says for each mode.

Modes and figures: 'standard' Figure 1, 'SNR' and 'dimensionality' Figure 2,
'switch_period' Figure 3, 'Vocal_Digits' Figure 4; 'lr_optim' is the
learning-rate search behind the dimensionality mode's rates.
"""

import math

mode = "standard"

####################################################################
# Values shared by the synthetic-data modes
####################################################################
DT = 0.1  # time step of the latent process
SIGMA_D = 0.5 * math.sqrt(DT)  # latent innovation s.d. sigma_d = 0.1581; a = 1 - sigma_d^2 = 0.975

COMMON = dict(
    dt=DT,  # time step of the latent process
    sigma_in=0.01,  # recognition noise s.d. of the stimulus layer
    sigma_obs=0.01,  # generative noise s.d. of the stimulus layer
    sigma_rec=0.01,  # recognition noise s.d. of the latent layer
    sigma_gen=SIGMA_D,  # generative noise s.d. of the top latent layer: the data's sigma_d, not 0.01
    D_init=0.6,  # initial diagonal of the latent dynamics matrix D
    switch_period=1,  # each wake or sleep phase lasts switch_period + 1 steps
    test_switching=True,  # snapshot tests alternate phases like training (False: wake only)
    epoch_num=1,  # passes over the training sequence
    n_test=30_000,  # steps of the test sequence
    n_snapshots=20,  # networks saved through training and tested; the first before learning
    algorithm="impression",  # learning rule: 'impression' (alias 'wake_sleep') or 'reinforce'
    reinforce_variant="corrected",  # 'corrected' rule or the authors' 'original' one
    gamma=0.9,  # decay of REINFORCE's eligibility traces during training
    seed=None,  # random seed of the run; None derives it from the array index
    data_dir="data",  # results folder, relative to this file unless absolute
    figures_dir="figures",  # figures folder, relative to this file unless absolute
)

####################################################################
# One block per mode (values that differ from COMMON)
####################################################################
PARAMS = {
    # Figure 1: 20 latent causes mixed into 100 inputs
    "standard": dict(
        n_latent=20,  # latent dimensions of the data process
        n_in=100,  # stimulus-layer neurons (input dimensions)
        n_neurons=20,  # latent-layer neurons
        n_train=2_000_000,  # training steps per epoch
        eta=1e-3,  # learning rate
    ),
    # Figure 2a-d: loss, and signal-to-noise ratio of the weight updates, IL against REINFORCE
    "SNR": dict(
        n_latent=2,  # latent dimensions of the data process
        n_in=4,  # stimulus-layer neurons
        n_neurons=2,  # latent-layer neurons
        n_train=600_000,  # training steps
        n_test=10_000,  # test steps
        eta=1e-4,  # learning rate
        epoch_num_snr=1_000_000,  # repetitions of the 4-step sequence per snapshot and rule
        snr_steps=4,  # length of the fresh data sequence of each SNR estimate
        gamma_snr=1.0,  # REINFORCE trace decay in the SNR analysis
    ),
    # Figure 2e: asymptotic loss against dimension; k = 1..5 from the array index
    "dimensionality": dict(
        n_latent=2,  # 2^k, set by the array index
        n_in=4,  # 2^(k+1), set by the array index
        n_neurons=2,  # 2^k, set by the array index
        n_train=3_600_000,  # training steps
        test_switching=False,  # snapshot tests in wake only: the wake loss is what the backprop control minimises
        eta=10**-2.5,  # IL learning rate (lr_optim array 1); REINFORCE runs get eta_reinforce instead
        # REINFORCE rate of the corrected rule: the lr_optim grid's best for it (array 29, 3.6e6 steps,
        # asymptotic wake test loss 9.1e3 against 1.6e4 before learning; 1e-6 and above diverged)
        eta_reinforce=10**-6.5,
        eta_reinforce_original=10**-9.5,  # authors' rate for their own REINFORCE rule (lr_optim array 35)
        seed=1,  # one seed for every index, so IL and REINFORCE of one size see the same data and weights
    ),
    # Figure 2f: learning-rate grid of the dimensionality mode, eta = 1e-2 / 10^(((j - 1) mod 20 + 1) / 2)
    # NOTE: size, steps and test length are those of the lr_optim block in the authors'
    # il_exp_params.py (commit 18f7b2f), the dimensionality mode's smallest network k = 1.
    "lr_optim": dict(
        n_latent=2,  # latent dimensions of the data process (the dimensionality mode's k = 1)
        n_in=4,  # stimulus-layer neurons
        n_neurons=2,  # latent-layer neurons
        n_train=3_600_000,  # training steps, as in the dimensionality mode
        test_switching=False,  # snapshot tests in wake only, as in the dimensionality mode
        eta=1e-2,  # set by the array index
        seed=1,  # one seed for every index, so the rates and rules are compared on the same data
    ),
    # Figure 3: effect of the phase duration on inference
    "switch_period": dict(
        n_latent=4,  # latent dimensions of the data process
        n_in=10,  # stimulus-layer neurons
        n_neurons=4,  # latent-layer neurons
        n_train=1_000_000,  # training steps
        eta=5e-4,  # learning rate
        switch_period=1,  # 1 + 3 (i - 1) for array index i
        test_switching=False,  # snapshot tests in wake only
        seed=1,  # one seed for every period, so the sweep's runs differ in the period only
    ),
    # Figure 4: two latent layers on mel spectrograms of spoken digits
    "Vocal_Digits": dict(
        n_in=128,  # mel bands of the spectrogram
        n_neurons=100,  # middle latent layer
        n_neurons_top=40,  # top latent layer
        epoch_num=20,  # passes over the training frames
        eta=5e-4,  # IL learning rate; REINFORCE gets 1e-3 * 10^-(i - 3) for array i >= 3
        sigma_obs=0.01,  # generative noise s.d. of the stimulus layer
        sigma_gen_middle=0.01,  # generative noise s.d. of the middle layer
        sigma_gen=0.13,  # generative noise s.d. of the top layer
        sigma_rec=0.01,  # recognition noise s.d. of the top layer
        sigma_rec_middle=0.01,  # recognition noise s.d. of the middle layer
        n_train=0,  # training frames per epoch from the start of the training set; 0 uses them all
        n_test=0,  # test frames from the start of the test set; 0 uses them all
        dataset="fsdd_spectrograms.npz",  # preprocessed dataset, relative to data_dir unless absolute
    ),
}

# Allowed values of the string parameters.
CHOICES = dict(
    algorithm=("impression", "wake_sleep", "reinforce"),
    reinforce_variant=("corrected", "original"),
)

# Valid array indices of each mode (inclusive).
ARRAY_RANGE = {
    "standard": (1, 20),  # seeds
    "SNR": (1, 20),  # seeds
    "dimensionality": (1, 10),  # 1-5 IL, 6-10 REINFORCE
    "lr_optim": (1, 40),  # 1-20 IL, 21-40 REINFORCE, over the learning-rate grid
    "switch_period": (1, 11),  # switch periods 1, 4, ..., 31
    "Vocal_Digits": (1, 12),  # 1 IL, 3-12 REINFORCE over its learning-rate grid
}


def array_params(mode, array_num):
    """Return the parameters that the array index sets in mode."""
    if mode == "dimensionality":
        k = (array_num - 1) % 5 + 1
        algorithm = "impression" if array_num <= 5 else "reinforce"
        return dict(n_latent=2**k, n_in=2 ** (k + 1), n_neurons=2**k, algorithm=algorithm)
    if mode == "lr_optim":
        algorithm = "impression" if array_num <= 20 else "reinforce"
        return dict(algorithm=algorithm, eta=1e-2 / 10.0 ** (((array_num - 1) % 20 + 1) / 2))
    if mode == "switch_period":
        return dict(switch_period=1 + 3 * (array_num - 1))
    if mode == "Vocal_Digits":
        if array_num == 1:
            return dict(algorithm="impression")
        if array_num == 2:
            raise ValueError(
                "Vocal_Digits array index 2 is the original's backprop slot, which has no "
                "implementation there or here; use 1 (IL) or 3-12 (REINFORCE)"
            )
        return dict(algorithm="reinforce", eta=1e-3 * 10.0 ** -(array_num - 3))
    return {}
