"""motcua-edge: central."""
