"""The citizens' touchscreen kiosk (Kivy): look up a dossier, rate the service, see on-time statistics.

``kiosk.session`` is the state machine without presentation; ``kiosk.app`` is the Kivy front end with one
kv file per screen under ``kiosk/kv/``. Everything else of the appliance reaches the kiosk through the
Protocols of ``kiosk.ports`` (wired in ``appliance.kiosk_wiring``). Kivy is imported only by the UI
modules, so the model and the stores work on a device without Kivy.
"""
