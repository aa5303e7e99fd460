"""The configuration: the schema and its defaults (:mod:`~study.config.spec`), the settings a
study reads from it (:mod:`~study.config.settings`), what makes two runs one study
(:mod:`~study.config.identity`), and the project's Hydra configs composed without the command
line (:mod:`~study.config.compose`; ``config.compose([...])`` in notebooks and tests)."""

from study.config.compose import compose, config_dir, register_schema, to_plain

__all__ = ["compose", "config_dir", "register_schema", "to_plain"]
