"""Several call workers on a node: the supervisor and heartbeats (the edge in front: ivr.edge)."""
