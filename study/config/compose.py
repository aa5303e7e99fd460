"""The project's Hydra configs, composed without the command line (for notebooks and tests).

``compose(["dataset=iris", "study.n_runs=5"])`` gives the same config as
``study-run dataset=iris study.n_runs=5``, as a plain resolved dict ready for
:func:`study.lifecycle.pipeline.run`. Like ``study/cli/``, this is an entry point: the only other
module that imports Hydra.
"""

from __future__ import annotations

from pathlib import Path

from study.errors import StudyError

__all__ = ["config_dir", "compose", "to_plain", "register_schema"]


def config_dir() -> Path:
    """The ``conf/`` folder: inside the installed package, or at the top of a source checkout."""
    here = Path(__file__).resolve().parents[1]  # study/
    for candidate in (here / "conf", here.parent / "conf"):
        if (candidate / "config.yaml").is_file():
            return candidate
    raise RuntimeError(f"the study's Hydra configs (conf/config.yaml) are missing near {here}")


def to_plain(cfg) -> dict:
    """A resolved plain dict from an OmegaConf config; a missing mandatory value is a StudyError."""
    from omegaconf import OmegaConf
    from omegaconf.errors import InterpolationResolutionError, MissingMandatoryValue

    try:
        plain = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    except MissingMandatoryValue as err:
        raise StudyError(f"{err.full_key} is required: add {err.full_key}=<value>") from None
    except InterpolationResolutionError as err:
        raise StudyError(f"config: {str(err).splitlines()[0]}") from None
    plain.pop("hydra", None)
    return plain


def register_schema() -> None:
    """Put :class:`study.config.spec.Config` in Hydra's ConfigStore as ``study_schema`` (the first
    entry of ``conf/config.yaml``'s defaults list): Hydra then checks every key and type itself."""
    from hydra.core.config_store import ConfigStore

    from study.config.spec import Config

    ConfigStore.instance().store(name="study_schema", node=Config)


def hydra_error(err: Exception) -> StudyError:
    """Hydra's or OmegaConf's error for a bad override, as one line: an unknown key names the
    keys its section takes (from :mod:`study.config.spec`), a wrong type names the key."""
    from omegaconf.errors import ConfigAttributeError, ConfigKeyError, ValidationError

    from study.config.spec import SECTIONS

    cause = err
    while cause is not None and not getattr(cause, "full_key", None):
        cause = cause.__cause__ or cause.__context__
    key = getattr(cause, "full_key", None)
    if key and isinstance(cause, (ConfigKeyError, ConfigAttributeError)):
        parts = key.split(".")
        if parts[:2] == ["importance", "options"] and len(parts) > 3:
            from study.importance import get_method

            try:
                takes = ", ".join(get_method(parts[2]).options) or "none"
            except ValueError as unknown:
                return StudyError(f"{key}: {unknown}")
            return StudyError(f"unknown option {key}; method {parts[2]} takes: {takes}")
        section = parts[0]
        takes = (
            f"; {section} takes {', '.join(sorted(SECTIONS[section]))}"
            if section in SECTIONS
            else ""
        )
        return StudyError(f"unknown key(s) {key}{takes}")
    if key and isinstance(cause, ValidationError):
        return StudyError(f"{key}: {str(cause).splitlines()[0]}")
    return StudyError(" ".join(str(err).split()))


def compose(overrides=(), *, config_name: str = "config") -> dict:
    """Compose ``conf/<config_name>.yaml`` with Hydra overrides; return a plain resolved dict.

    Bad overrides (unknown group option, malformed override) raise StudyError with Hydra's message.
    """
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    register_schema()
    try:
        with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
            cfg = hydra_compose(config_name=config_name, overrides=list(overrides))
    except (HydraException, OmegaConfBaseException) as err:
        raise hydra_error(err) from None
    return to_plain(cfg)
