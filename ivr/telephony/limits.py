"""What one call worker's SIP stack can carry.

A leaf module (it imports nothing) so that settings validation, the engine and
the Kamailio edge share the figure without importing each other.
"""

from __future__ import annotations

# baresip's native limit on concurrent calls in one process: sip.max_calls may
# not exceed it, and the edge never sends one worker more (dispatcher maxload).
MAX_CALLS_PER_WORKER = 255
