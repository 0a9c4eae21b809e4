"""Credentials out of text: ``mask_url`` hides those of one URL, ``scrub`` those of every URL
in a text (an error message, a provider's answer quoted in it) and any known secret value.

The bottom of the package (it imports nothing of the gateway): errors scrub their messages as
they are made (``gateway.errors.GatewayError``), so no error text stored in the audit log,
logged or answered carries ``user:password@`` or ``?token=``. Written by hand: yarl and
urllib parse one URL; finding URLs in free text and masking credential-like parameters is this
module's own.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterable
from typing import Final

__all__ = ["SECRET_PARAMETERS", "mask_url", "scrub"]

#: Query parameters whose values are credentials (compared lower-case; names ending in
#: ``token``, ``secret``, ``key``, ``password`` or ``signature`` count too).
SECRET_PARAMETERS: Final = frozenset({
    "token", "key", "secret", "sig", "signature", "password", "passwd", "pwd", "access_token",
    "api_key", "apikey", "auth", "authorization", "client_secret", "code", "credential",
    "credentials", "jwt", "session", "hmac", "hash",
})  # fmt: skip
_SECRET_SUFFIXES = ("token", "secret", "key", "password", "signature", "_sig")


def _secret_parameter(name: str) -> bool:
    name = urllib.parse.unquote_plus(name).strip().lower()
    return name in SECRET_PARAMETERS or name.endswith(_SECRET_SUFFIXES)


def mask_url(url: str) -> str:
    """``url`` as it may be shown: its user info and the values of credential-like query (and
    fragment) parameters replaced by ``***``; everything else exactly as written. The
    provider still gets the real URL; this is for the audit log, logs, plans and read keys."""
    if "@" not in url and "?" not in url and "#" not in url:
        return url  # the common case: nothing to hide
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "<a URL that cannot be read>"
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit(
        (parts.scheme, netloc, parts.path, _mask_parameters(parts.query),
         _mask_parameters(parts.fragment))
    )  # fmt: skip


def _mask_parameters(text: str) -> str:
    parts = []
    for item in text.split("&"):
        name, eq, _value = item.partition("=")
        parts.append(f"{name}=***" if eq and _secret_parameter(name) else item)
    return "&".join(parts)


#: A URL in free text: a scheme, ``://`` and what follows up to a space, quote or bracket.
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,15}://[^\s'\"<>`]+")
#: Known secrets shorter than this are not searched for (they would mask ordinary words).
_SHORTEST_SECRET = 6


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with the credentials of every URL in it masked (``mask_url``) and each of
    ``secrets`` (values known to be secret: a webhook's secret, a header's value) as ``***``."""
    for secret in sorted({s for s in secrets if len(s) >= _SHORTEST_SECRET}, key=len,
                         reverse=True):  # fmt: skip
        text = text.replace(secret, "***")
    if "://" not in text:
        return text
    return _URL_IN_TEXT.sub(lambda m: mask_url(m.group(0)), text)
