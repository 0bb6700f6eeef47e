"""The realism stage."""
