"""Package discovery (the rest of the metadata is in pyproject.toml).

setuptools finds every package under ``study/`` itself, so a new subpackage can never be left out
of the wheel (``study.batched`` once was). ``conf/`` sits at the top of the repository (fixed
layout) and ships inside the wheel as ``study.conf``, so that a non-editable install finds its
Hydra configs too; its folders are discovered the same way.
"""

from setuptools import find_namespace_packages, find_packages, setup

conf = ["study.conf"] + [f"study.conf.{p}" for p in find_namespace_packages(where="conf")]
setup(
    packages=find_packages(include=["study", "study.*"]) + conf,
    package_dir={"study.conf": "conf"},
)
