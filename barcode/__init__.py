"""motcua-edge: barcode."""
