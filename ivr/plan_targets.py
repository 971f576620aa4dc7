"""What the configuration offers dial plans (queues, agents, extensions, callbacks),
for checking plans against it at load and in ``ivr dialplan validate``."""

from __future__ import annotations

from ivr.agents.dialling import normalise_target
from ivr.agents.settings import ContactCenterSettings
from ivr.dialplan.targets import QueueStaff, ServiceTargets
from ivr.exceptions import DialRefused


def service_targets(settings: ContactCenterSettings, source: str) -> ServiceTargets:
    """``settings`` as the plan checks see them; ``source`` names the configuration
    in every finding (a file, or "the defaults")."""
    allow = settings.dialling.allow

    def refused(uri: str) -> str | None:
        try:
            target = normalise_target(uri)
        except DialRefused as exc:
            return str(exc)
        if not any(pattern.search(target) for pattern in allow):
            return f"{target} matches no dialling.allow pattern in {source}"
        return None

    def extension_refused(extension: str) -> str | None:
        if not settings.dialling.extension_uri:
            return f"dialling.extension_uri is not set in {source}"
        return refused(settings.dialling.extension_uri.format(extension=extension))

    queues = {
        name: QueueStaff(
            agents=tuple(a.id for a in settings.agents if name in a.queues),
            undialable=tuple(
                a.id for a in settings.agents if name in a.queues and refused(a.uri) is not None
            ),
        )
        for name in settings.queues
    }
    return ServiceTargets(
        source=source,
        queues=queues,
        callbacks=bool(settings.callbacks.number_uri),
        extension_refused=extension_refused,
    )
