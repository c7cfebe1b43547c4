"""The fleet page: enrolled devices with their last heartbeat age and status, as escaped HTML."""

from __future__ import annotations

import json
from datetime import datetime
from html import escape
from typing import Any

STALE_SECONDS = 600


def age_text(seconds: float) -> str:
    """A short age: ``42 s``, ``7 min``, ``3 h``, ``2 d``."""
    if seconds < 120:
        return f"{int(seconds)} s"
    if seconds < 7200:
        return f"{int(seconds // 60)} min"
    if seconds < 172_800:
        return f"{int(seconds // 3600)} h"
    return f"{int(seconds // 86400)} d"


def fleet_page(devices: list[dict[str, Any]], now: datetime) -> str:
    """The whole HTML page."""
    rows = []
    for d in devices:
        if d["last_heartbeat"]:
            age = (now - datetime.fromisoformat(d["last_heartbeat"])).total_seconds()
            seen, cls = age_text(max(age, 0)), ("ok" if age <= STALE_SECONDS else "stale")
        else:
            seen, cls = "never", "stale"
        status = (
            json.dumps(d["last_status"], ensure_ascii=False)[:300] if d["last_status"] is not None else ""
        )
        rows.append(
            f'<tr class="{cls}"><td>{escape(d["name"])}</td><td>{escape(d["kind"])}</td>'
            f"<td><code>{escape(d['id'])}</code></td><td>{escape(d['enrolled_at'][:16])}</td>"
            f"<td>{escape(seen)}</td><td><code>{escape(status)}</code></td></tr>"
        )
    body = "\n".join(rows) or '<tr><td colspan="6">Chưa có thiết bị nào / no devices enrolled yet</td></tr>'
    return f"""<!doctype html>
<html lang="vi"><head><meta charset="utf-8"><title>Thiết bị / Fleet</title>
<meta http-equiv="refresh" content="60">
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}tr.stale td{{background:#fde2e2}}</style>
</head><body>
<h1>Thiết bị tra cứu / Lookup devices</h1>
<p>{len(devices)} thiết bị; cập nhật lúc {escape(now.strftime("%d/%m/%Y %H:%M:%S"))}.
Đỏ: không có tín hiệu quá {STALE_SECONDS // 60} phút.</p>
<table><tr><th>Tên</th><th>Loại</th><th>Mã thiết bị</th><th>Đăng ký lúc</th><th>Tín hiệu cuối</th><th>Trạng thái</th></tr>
{body}
</table></body></html>
"""
