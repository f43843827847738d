"""Call recording: policy, MixMonitor control, PCI pause, post-processing, transcription and
retention."""
