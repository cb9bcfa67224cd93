"""Benchmarks: ``drive bench sim|control|perception|vision`` and the manoeuvres they drive."""
