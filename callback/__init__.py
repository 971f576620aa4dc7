"""The peak-shaving callback queue and its dispatcher.

Its own package, runnable alone; it never imports ``ivr``. The queue and the
dispatcher arrive with the callback work; the package exists now so the
distribution's layout (``ivr`` uses ``callback``, never the reverse) is fixed
from the start.
"""
