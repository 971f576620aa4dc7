"""The composition roots: the service process, one call's session and the callback
dispatcher process. Only these wire the other packages together."""
