"""The peak-shaving callback queue and its dispatcher.

Its own package, runnable alone; it never imports ``ivr``. ``line`` holds the
one ordered line per queue in Redis that live callers (and callback requests)
stand in; the dispatcher arrives with the callback work.
"""
