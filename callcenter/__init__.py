"""Composition root of the call-center control plane: settings, CLI, wiring, the event vocabulary
(`callcenter.events`) and the in-process bus (`callcenter.bus`)."""

__version__ = "0.1.0"
