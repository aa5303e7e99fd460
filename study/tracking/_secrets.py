"""Credentials in tracking URIs, masked wherever a URI leaves the process. Pure (no MLflow): the
CLI masks its error lines without loading MLflow."""

from __future__ import annotations

import re

__all__ = ["mask_uri"]

# http(s), as urllib reads it (RFC 3986): the userinfo holds no unescaped "/", "?", "#", up to
# the last "@" before the path; "\s" ends a URI within prose. A sweep's job overrides, as Hydra
# writes and logs them, escape the colons: http\://alice\:pw@host.
_HTTP_USERINFO = re.compile(r"(?P<scheme>\bhttps?\\?://)(?P<info>[^/?#\s]*)@", re.IGNORECASE)
# Any other scheme (a database: postgresql+psycopg, mysql, ...): the user up to the first ":",
# the password up to the last "@" before a space. SQLAlchemy takes "/", "?" and "#" into the
# password unescaped (generated passwords hold them); an "@" it would not, but the user meant
# it as part of the password, and masking too much hides only the host.
_OTHER_USERINFO = re.compile(
    r"(?P<scheme>\b(?!https?\\?://)[A-Za-z][A-Za-z0-9+.-]*\\?://)"
    r"(?P<user>[^:/@\s]*)(?P<colon>\\?:)\S*@",
    re.IGNORECASE,
)
_QUERY_SECRET = re.compile(
    r"(?P<key>[?&](?:password|passwd|pwd|secret|token|access_token|api_key)=)[^&#\s]*",
    re.IGNORECASE,
)


def _http_userinfo(match: re.Match) -> str:
    user, colon, _ = match["info"].partition(":")
    # "user:password" keeps the user; a lone name may be a token (https://TOKEN@host)
    return f"{match['scheme']}{user}:***@" if colon else f"{match['scheme']}***@"


def mask_uri(text: str) -> str:
    """``text`` (a URI, or any text holding URIs) with every credential replaced by ``***``: a
    password in the userinfo (``alice:***@``), an http(s) userinfo with no colon (``***@``:
    tokens are passed that way; a database's lone user name stays), a ``password=`` (or
    ``token=``, ...) query parameter. The rest stays as it was typed, so the masked URI still
    says which store it is."""
    text = _OTHER_USERINFO.sub(r"\g<scheme>\g<user>\g<colon>***@", str(text))
    return _QUERY_SECRET.sub(r"\g<key>***", _HTTP_USERINFO.sub(_http_userinfo, text))
