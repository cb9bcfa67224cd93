"""The closed loop that composes simulator, perception, planning and control; the ``drive`` command."""
