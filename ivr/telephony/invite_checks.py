"""What a worker checks of an INVITE before it answers, for when no edge stands in front.

The SIP stack parses every request and answers OPTIONS itself; of an INVITE,
Python sees only the headers the engine exposes (``EXPOSED_HEADERS``). Checked
here: To and From are well-formed name-addrs or addr-specs of a SIP or tel URI
(RFC 3261 20.10/25.1, RFC 4475 badaspec), and Require names only extensions the
stack supports (RFC 3261 8.2.2.3, RFC 4475 bext01). What cannot be seen here
(the Request-URI's scheme, a repeated Content-Length) only the Kamailio edge
checks; the README's first section says so.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

# The option tags the SIP stack implements (the edge accepts the same).
SUPPORTED_EXTENSIONS = frozenset({"100rel", "timer", "replaces"})

_QUOTED = r'"(?:[^"\\\r\n]|\\.)*"'
_URI = r"(?:sips?|tel):[^\s<>]+"
# name-addr: [display-name] "<" addr-spec ">" with no white space inside the brackets
# (LAQUOT = SWS "<", RAQUOT = ">" SWS); or a bare addr-spec; then ;params.
_ADDRESS = re.compile(
    # A display name is let through as it comes (PBXs send UTF-8 names unquoted).
    rf'^\s*(?:(?:{_QUOTED}\s*|[^<>"\r\n]*)<{_URI}>|{_URI})\s*(?:;.*)?$',
    re.IGNORECASE,
)


def refusal_reason(headers: Mapping[str, str]) -> str | None:
    """Why an INVITE with these headers must not become a call; None when it may."""
    for name in ("To", "From"):
        value = headers.get(name)
        if value is not None and not _ADDRESS.match(value):
            return f"malformed {name} header {value!r}"
    required = headers.get("Require")
    if required is not None:
        unsupported = [
            tag
            for tag in (part.strip().lower() for part in required.split(","))
            if tag and tag not in SUPPORTED_EXTENSIONS
        ]
        if unsupported:
            return f"unsupported extension required: {', '.join(unsupported)}"
    return None
