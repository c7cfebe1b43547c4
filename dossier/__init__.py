"""motcua-edge: dossier."""
