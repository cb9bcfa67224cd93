"""Simulation: highway-env environments behind scenario files, ground truth, rendering and video."""
