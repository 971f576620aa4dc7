"""Caller numbers masked in every log line: ``sip:13812345678@pbx`` -> ``sip:*********78@pbx``.

Transcripts never reach a log call in the first place (they go to the ticket);
numbers do, inside SIP URIs, dial refusals and the SIP stack's own messages,
so the handler masks them whatever logger they come through.
"""

from __future__ import annotations

import logging
import re

KEPT_DIGITS = 2
# The user part of a SIP or tel URI, and any run of 6+ digits standing alone
# (ticket ids stay readable below a million; digits inside hex ids are not alone).
_URI_USER = re.compile(r"(?P<scheme>\b(?:sips?|tel):)(?P<user>[^@;>\s\"']+)")
_DIGIT_RUN = re.compile(r"(?<![\w.-])\+?\d{6,}(?![\w])")


def _hide(text: str) -> str:
    return "*" * max(0, len(text) - KEPT_DIGITS) + text[-KEPT_DIGITS:]


def mask_numbers(text: str) -> str:
    text = _URI_USER.sub(lambda m: m["scheme"] + _hide(m["user"]), text)
    return _DIGIT_RUN.sub(lambda m: _hide(m[0]), text)


class MaskCallerNumbers(logging.Filter):
    """A handler filter: the record's message and traceback come out masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_numbers(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_numbers(record.exc_text)
        return True


def mask_log_handlers() -> None:
    """Mask caller numbers on every handler of the root logger."""
    for handler in logging.getLogger().handlers:
        handler.addFilter(MaskCallerNumbers())
