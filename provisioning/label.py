"""The asset label: a QR code with the device id, on the terminal and as a PNG to print."""

from __future__ import annotations

import io
from pathlib import Path

from provisioning.files import write_atomic


def label_text(device_id: str, name: str, site: str, role: str) -> str:
    """What the QR code holds (no secret): the device id first, for the asset sheet's scanner."""
    return f"motcua-device:{device_id or 'pending'};name={name};site={site};role={role}"


def terminal_qr(text: str) -> str:
    """The QR code drawn with Unicode blocks (two rows per line)."""
    import segno

    buf = io.StringIO()
    segno.make(text, error="m").terminal(out=buf, compact=True, border=2)
    return buf.getvalue()


def write_png(text: str, path: Path) -> Path:
    """The QR code as a PNG (atomically, 0644) for printing."""
    import segno

    buf = io.BytesIO()
    segno.make(text, error="m").save(buf, kind="png", scale=8, border=4)
    write_atomic(path, buf.getvalue(), 0o644)
    return path
