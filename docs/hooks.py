"""MkDocs hook: the docstrings' Sphinx roles (``:func:`study.run```, ``:class:`~x.Y```), which
mkdocstrings renders as text, shown as code."""

import re

_ROLE = re.compile(r":(?:class|func|mod|data|meth|attr|exc|obj):(<code>)~?")


def on_page_content(html, **kwargs):
    return _ROLE.sub(r"\1", html)
