"""Credentials in tracking URIs, masked wherever a URI leaves the process. Pure (no MLflow): the
CLI masks its error lines without loading MLflow."""

from __future__ import annotations

import re

__all__ = ["mask_uri"]

# RFC 3986: userinfo holds no unescaped "/", "?", "#" or "@"; "\s" ends a URI within prose.
# Greedy up to the last "@" before the path, as urllib.parse.urlsplit reads the netloc. A sweep's
# job overrides, as Hydra writes and logs them, escape the colons: http\://alice\:pw@host.
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*\\?://)(?P<info>[^/?#\s]*)@")
_QUERY_SECRET = re.compile(
    r"(?P<key>[?&](?:password|passwd|pwd|secret|token|access_token|api_key)=)[^&#\s]*",
    re.IGNORECASE)  # fmt: skip


def _userinfo(match: re.Match) -> str:
    user, colon, _ = match["info"].partition(":")
    # "user:password" keeps the user; a lone name may be a token (https://TOKEN@host)
    return f"{match['scheme']}{user}:***@" if colon else f"{match['scheme']}***@"


def mask_uri(text: str) -> str:
    """``text`` (a URI, or any text holding URIs) with every credential replaced by ``***``: a
    password in the userinfo (``alice:***@``), a userinfo with no colon (``***@``: tokens are
    passed that way), a ``password=`` (or ``token=``, ...) query parameter. The rest stays as it
    was typed, so the masked URI still says which store it is."""
    return _QUERY_SECRET.sub(r"\g<key>***", _USERINFO.sub(_userinfo, str(text)))
