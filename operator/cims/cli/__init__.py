"""The ``cims`` command line: one small module per command."""
