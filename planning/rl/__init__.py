"""A deep-RL planner: a learned policy picks lane and cruise speed; IDM and the MPC execute."""
