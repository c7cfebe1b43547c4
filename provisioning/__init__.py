"""Provisioning and self-test of a device: ``motcua provision``, ``motcua deprovision``, ``motcua doctor``.

A part like the others: it imports ``dossier`` and nothing of another part. The composition root
(``appliance/commands/provision.py``, ``appliance/doctor_wiring.py``) hands it what it needs from the
other parts (config validation, the hardware checks built on the SMS gateway and the barcode reader).
"""
