"""Hyperparameter sweeps: the study in Optuna's storage, trials run as ordinary runs."""
