"""Perception: turns what the simulator shows into the scene state the planner consumes."""
