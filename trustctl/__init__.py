"""trustctl: the `security` tool's trust commands for Linux, a client of trustd."""
