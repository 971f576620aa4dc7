"""Audio the service makes and keeps: prompts and TTS, recordings, voice messages,
hold music, and the one audio format calls carry."""
