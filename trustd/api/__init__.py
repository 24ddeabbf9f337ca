"""The wire protocol: varlink over the Unix socket (interface io.trustd.Trust)."""
