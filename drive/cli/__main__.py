"""``python -m drive.cli``: the ``drive`` command."""

from drive.cli.main import main

main()
