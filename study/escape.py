"""Names made inert where they are shown. A column name, a class label or ``study.name`` comes
from the user's files and may hold HTML, markdown or terminal escape sequences: in the parent
run's description (markdown, rendered by the MLflow UI) and on a terminal they must show as
typed, never act. ``overview.html`` escapes with :func:`html.escape` on its own."""

from __future__ import annotations

import html
import re

__all__ = ["for_terminal", "for_markdown"]

# C0 but tab and newline, DEL, C1 (ESC starts the sequences that retitle or rewrite a terminal;
# CR overwrites a line), and the bidi overrides that reorder what is shown
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_LINE_BREAKS = re.compile(r"[\t\n\u2028\u2029]")
# CommonMark's backslash escapes for what would emphasise, link, embed, head or split a table;
# and the dot: MLflow's renderer (showdown, GitHub flavour) links a bare http://a.b, www.a.b or
# x@a.b on its own, which an escaped dot stops
_MARKDOWN = re.compile(r"([\\`*_\[\](){}#|!~.])")


def _visible(match: re.Match) -> str:
    return ascii(match[0])[1:-1]  # "\x1b", "\u202e": the character named, not acted on


def for_terminal(text: str) -> str:
    """``text`` with every control character but tab and newline written as its escape
    (``\\x1b``), so that printing it cannot move the cursor, retitle or clear the terminal."""
    return _CONTROL.sub(_visible, str(text))


def for_markdown(text: str) -> str:
    """``text`` (a name) as markdown that shows it as typed: control characters and line breaks
    written as escapes (a name stays on its line and in its table cell), markdown punctuation
    backslash-escaped, then ``<>&"'`` HTML-escaped (no tag, no entity reaches the renderer)."""
    text = _LINE_BREAKS.sub(_visible, for_terminal(text))
    return html.escape(_MARKDOWN.sub(r"\\\1", text), quote=True)
