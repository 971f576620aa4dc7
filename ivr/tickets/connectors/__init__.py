"""Help desk connectors: our tickets in the help desk's own ticket system, and back.

- :mod:`.base`: the interface a connector implements, its errors;
- :mod:`.settings`: the ``helpdesk:`` section of ivr.yaml;
- :mod:`.summary`: a call told in text for any help desk;
- :mod:`.rt`: Request Tracker 5 (REST 2);
- :mod:`.drainer`: the outbox messages, delivered through a connector;
- :mod:`.sync`: changes made in the help desk, read back onto our tickets.
"""

from __future__ import annotations

from collections.abc import Mapping

from ivr.exceptions import ConfigError
from ivr.tickets.connectors.base import HelpdeskConnector
from ivr.tickets.connectors.settings import HelpdeskConfig


def open_connector(
    config: HelpdeskConfig, env: Mapping[str, str], service_url: str
) -> HelpdeskConnector:
    """The connector ``config`` names, its token read from ``env``.

    Raises:
        ConfigError: the token's variable is unset or empty.
    """
    token = env.get(config.token_env, "")
    if not token:
        raise ConfigError(
            f"helpdesk.token_env names {config.token_env}, which is unset: "
            "put the help desk's API token there"
        )
    from ivr.tickets.connectors.rt import RtConnector

    return RtConnector(config, token, config.service_url or service_url)
