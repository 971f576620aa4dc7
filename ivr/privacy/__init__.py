"""Personal data: masked in logs, kept for a retention, erased on request."""
