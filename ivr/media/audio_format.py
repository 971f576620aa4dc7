"""The one audio format inside the service: signed 16-bit little-endian mono PCM at
8 kHz, G.711's rate, which is all the service negotiates (PCMU/PCMA)."""

SAMPLE_RATE = 8000
SAMPLE_WIDTH = 2
BYTES_PER_SECOND = SAMPLE_RATE * SAMPLE_WIDTH
