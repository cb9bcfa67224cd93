"""Training: the planning environment, the Stable-Baselines3 runs of ``drive train``, and the baseline."""
