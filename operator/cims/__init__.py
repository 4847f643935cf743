"""CIMS, the Container Image Multi-Scanner: correlate several scanners' findings per image."""

__version__ = "0.1.0"
