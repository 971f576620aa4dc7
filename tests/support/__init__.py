"""What the tests share, registered as a pytest plugin (``tests/conftest.py`` names
:mod:`support.fixtures`): one fixture per real peer, one SIPp runner, and helpers
that start the service and talk to it. A test module imports from here, never from
another test module.

The modules import as ``support.*`` because pytest puts ``tests/`` on the path
(``pythonpath`` in pyproject's pytest settings); so do the peers in ``tests/peers``.
"""
