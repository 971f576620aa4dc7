"""The one dialling policy: every outbound call and every REFER target passes here.

A target is allowed only when its normalised URI matches one of the configured
``dialling.allow`` patterns; with none configured, nothing is dialled. This is
what keeps a dial plan, an API call or a caller's input from turning the
service into a toll-fraud tool.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote

from ivr.agents.settings import DiallingSettings
from ivr.exceptions import DialRefused

log = logging.getLogger(__name__)

_VISUAL_SEPARATORS = re.compile(r"[\s\-().]")


def normalise_target(target: str) -> str:
    """``sip:user@host[:port]`` with the scheme lower-cased, the user part unescaped
    and stripped of visual separators, and URI parameters and headers dropped."""
    text = target.strip().strip("<>")
    scheme, sep, rest = text.partition(":")
    if not sep or scheme.lower() not in ("sip", "sips", "tel"):
        raise DialRefused(f"{target!r} is not a sip:, sips: or tel: URI")
    rest = re.split(r"[;?>]", rest, maxsplit=1)[0]
    user, at, host = rest.rpartition("@")
    if not at:
        user, host = rest, ""
    user = _VISUAL_SEPARATORS.sub("", unquote(user))
    if not user or any(c in user for c in "@:<>\"' "):
        raise DialRefused(f"{target!r} has no usable user part")
    return f"{scheme.lower()}:{user}@{host.lower()}" if host else f"{scheme.lower()}:{user}"


class DialPolicy:
    def __init__(self, settings: DiallingSettings) -> None:
        self._allow = settings.allow
        self._extension_uri = settings.extension_uri

    def uri_for_extension(self, extension: str) -> str:
        """The URI of a PBX extension (``dialling.extension_uri``), checked.

        Raises:
            DialRefused: no extension template, a malformed extension, or not allowed.
        """
        if not self._extension_uri:
            raise DialRefused("dialling.extension_uri is not configured")
        if not re.fullmatch(r"[0-9*#+]{1,32}", extension):
            raise DialRefused(f"extension {extension!r} is not a dialable number")
        return self.check(self._extension_uri.format(extension=extension))

    def check(self, target: str) -> str:
        """The normalised target when it may be dialled or referred to.

        Raises:
            DialRefused: with the reason; also logged.
        """
        try:
            uri = normalise_target(target)
        except DialRefused as exc:
            log.warning("dial refused: %s", exc)
            raise
        if not any(pattern.search(uri) for pattern in self._allow):
            reason = (
                f"{uri} matches no dialling.allow pattern"
                if self._allow
                else f"{uri} refused: no dialling.allow patterns are configured"
            )
            log.warning("dial refused: %s", reason)
            raise DialRefused(reason)
        return uri
