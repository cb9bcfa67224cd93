"""Many episodes: rollouts and suites over worker processes, comparisons, and datasets."""
