"""The closed loop: the day loop, lineages, serving, logs, nightly retraining, launch
lineages, checkpoints, the run dir and its diagnostics."""
