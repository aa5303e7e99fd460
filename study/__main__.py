"""``python -m study [overrides]`` is ``study-run [overrides]``."""

from .cli import run_main

run_main()
