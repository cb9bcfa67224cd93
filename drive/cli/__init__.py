"""The ``drive`` command line; :mod:`drive.cli.main` builds the app, the ``cli_*`` modules add commands."""

from drive.cli.main import app, main

__all__ = ["app", "main"]
