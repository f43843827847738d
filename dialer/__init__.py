"""Outbound campaigns: contact lists, compliance (DNC, windows, abandon limits), pacing
(preview, progressive, predictive) and execution through the PBX."""
