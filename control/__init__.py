"""Control: turns a plan into acceleration and steering."""
