"""trustd: Apple's certificate trust service for Linux."""

__version__ = "0.1.0"
