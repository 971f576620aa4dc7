"""Several call workers on a node: the supervisor, the Kamailio front, heartbeats."""
