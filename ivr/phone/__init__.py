"""``ivr call``: a phone in the terminal, on the service's own SIP stack.

It dials the service (or any SIP URI), plays and records what it hears, sends
keys typed or scripted, speaks a recording into the call, shows the prompts'
texts as the plan plays them and prints the call's ticket at hang-up.

- :mod:`ivr.phone.keys`: the ``--keys`` script and typed lines.
- :mod:`ivr.phone.endpoint`: the phone's own SIP and RTP ports, the target URI.
- :mod:`ivr.phone.audio`: the WAV of what it hears, the speakers, ``--say``.
- :mod:`ivr.phone.service_view`: what the service says about the call (node, ticket).
- :mod:`ivr.phone.phone`: one call from dial to ticket.
"""
