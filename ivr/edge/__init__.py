"""The SIP edge: Kamailio in front of the call workers (routing, admission, TLS).

- ``settings``: ``sip.admission`` and ``sip.tls`` from ``ivr.yaml`` (config composes them).
- ``front``: the workers behind the edge and its settings (``FrontConfig``).
- ``policy``: the admission, TLS and call-cap parts of kamailio.cfg.
- ``render``: kamailio.cfg (from the template ``kamailio.cfg.in``) and the dispatcher list.
- ``kamailio``: the binary (lookup, module directory, ``-c`` check, command line).
- ``probe``: one SIP OPTIONS, the health check.
- ``command``: ``ivr kamailio run|probe``.

It imports the value parsers, exceptions and telephony limits (the command also the
config loader), never the call workers.
"""
