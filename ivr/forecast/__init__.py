"""The operations forecast: calls, handling time and agents needed per queue and
15-minute interval, from the tickets' history; breaks, callback times and the
simulator read it."""
