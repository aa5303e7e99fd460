"""``python -m study [overrides]`` is ``study-run [overrides]``."""

from study.cli import run_main

run_main()
