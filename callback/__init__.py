"""The peak-shaving callback queue and its dispatcher.

Its own package, runnable alone; it never imports ``ivr``.

- ``line``: the one ordered line per queue in Redis that live callers and
  callback requests stand in
- ``requests``: callback requests in Redis (one per number), leased while dialled;
  ``request_model`` what one is, ``request_scripts`` the Lua behind them
- ``value``: the most-valuable-first rule (VIP, intent, failed attempts) that moves
  a request earlier in line
- ``dispatcher``: picks due requests in calling hours and dials them through a
  ``Connector`` (a small ``Protocol``) the service hands it (agent-first or
  customer-first, retries with backoff)
- ``keys``: every Redis key name of the package
"""
