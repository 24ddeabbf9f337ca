"""One module per family of commands; trustctl.app registers them in `security`'s order."""
