"""motcua-edge: appliance."""
