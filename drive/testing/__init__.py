"""The pytest plugin (``plugin.py``): scenario files as closed-loop tests, in anyone's repository."""
