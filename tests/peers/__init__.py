"""The real peers the tests run: Kamailio as the PBX, headless Chromium, and the
pjsua2 phones (``pj_phone.py``, ``pj_agent.py``: scripts, each run as its own process)."""
