"""SIP admission and TLS at the Kamailio edge in front of the call workers."""
