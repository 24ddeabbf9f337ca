"""macOS property lists <-> core values: trust-settings records and the exceptions blob."""
