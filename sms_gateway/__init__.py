"""motcua-edge: sms_gateway."""
