"""IVR: the flow schema and validation, a pure flow interpreter, speech recognition (vosk,
faster-whisper) and prompt building; the FastAGI adapter that runs flows on calls."""
