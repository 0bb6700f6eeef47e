"""The contrast stage."""
