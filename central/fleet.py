"""The fleet pages for ICT staff, as escaped server-rendered HTML (no scripts, no external assets).

Devices are grouped by site; sites with offline devices come first, and offline devices first within
a site. Every text that came from a device or an account is escaped with ``html.escape``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from html import escape
from typing import Any
from urllib.parse import quote

from central.fleet_store import DeviceState

NO_SITE = "(chưa khai báo / no site)"


def age_text(seconds: float) -> str:
    """A short age: ``42 s``, ``7 min``, ``3 h``, ``2 d``."""
    if seconds < 120:
        return f"{int(seconds)} s"
    if seconds < 7200:
        return f"{int(seconds // 60)} min"
    if seconds < 172_800:
        return f"{int(seconds // 3600)} h"
    return f"{int(seconds // 86400)} d"


@dataclass
class DeviceRow:
    """One device as the fleet page shows it."""

    device_id: str
    name: str
    site: str
    role: str
    version: str
    enrolled_at: str
    last_seen: float | None  # central's receive time, epoch seconds
    online: bool
    state: DeviceState | None = None
    failing: list[str] = field(default_factory=list)
    revoked_at: float | None = None

    def metric(self, name: str) -> float | None:
        """A metric of the latest heartbeat, or None."""
        return self.state.metrics.get(name) if self.state and self.state.has_heartbeat else None


def _legacy_seen(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None


def device_rows(
    devices: list[dict[str, Any]], states: list[DeviceState], now: float, offline_after: float
) -> list[DeviceRow]:
    """Enrolled devices joined with their latest heartbeat state."""
    by_id = {s.device_id: s for s in states}
    rows = []
    for d in devices:
        st = by_id.get(d["id"])
        hb = st if st is not None and st.has_heartbeat else None
        seen = max(filter(None, (hb.received_at if hb else None, _legacy_seen(d.get("last_heartbeat")))),
                   default=None)  # fmt: skip
        rows.append(
            DeviceRow(
                device_id=d["id"],
                name=d["name"],
                site=(hb.site if hb else "") or NO_SITE,
                role=hb.role if hb else d.get("kind", ""),
                version=hb.version if hb else "",
                enrolled_at=d.get("enrolled_at", ""),
                last_seen=seen,
                online=seen is not None and now - seen <= offline_after,
                state=st,
                failing=hb.failing() if hb else [],
                revoked_at=st.revoked_at if st else None,
            )
        )
    return rows


def grouped(rows: list[DeviceRow]) -> list[tuple[str, list[DeviceRow]]]:
    """(site, devices) with offline devices first, sites with offline devices first."""
    sites: dict[str, list[DeviceRow]] = {}
    for r in rows:
        sites.setdefault(r.site, []).append(r)
    for members in sites.values():
        members.sort(key=lambda r: (r.revoked_at is not None, r.online, r.name.lower(), r.device_id))
    return sorted(
        sites.items(),
        key=lambda kv: (-sum(1 for r in kv[1] if not r.online and r.revoked_at is None), kv[0] == NO_SITE,
                        kv[0].lower()),
    )  # fmt: skip


_STYLE = """
body{font-family:system-ui,sans-serif;margin:0;color:#1b1b1b;background:#f6f7f9}
header{background:#17406d;color:#fff;padding:.6em 1.5em;display:flex;justify-content:space-between;align-items:center}
header h1{font-size:1.25em;margin:0}header form{margin:0}header a{color:#fff}
main{padding:1em 1.5em}h2{font-size:1.1em;margin:1.4em 0 .4em}
table{border-collapse:collapse;background:#fff;width:100%;font-size:.92em}
th,td{border:1px solid #d5d9e0;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#eef1f5}tr.offline td{background:#fde2e2}tr.revoked td{background:#e6e6e6;color:#666}
.badge{display:inline-block;white-space:nowrap;padding:0 .5em;border-radius:.8em;font-size:.85em;font-weight:600}
.on{background:#d7f5dd;color:#14532d}.off{background:#b91c1c;color:#fff}.rev{background:#666;color:#fff}
.fail{color:#b91c1c;font-weight:600}.warn{color:#92400e}.muted{color:#666;font-size:.85em}
.summary span{margin-right:1.5em}button{font:inherit;padding:.2em .8em}
form.login{background:#fff;max-width:22em;margin:3em auto;padding:1.5em;border:1px solid #d5d9e0}
form.login label{display:block;margin:.6em 0 .2em}form.login input{width:100%;padding:.3em;box-sizing:border-box}
.error{color:#b91c1c;font-weight:600}code{font-size:.9em}
"""


def _shell(title: str, body: str, *, user: str = "", csrf: str = "", refresh: bool = False) -> str:
    signout = (
        f'<form method="post" action="/fleet/logout"><span>{escape(user)}</span> '
        f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
        '<button type="submit">Đăng xuất / Sign out</button></form>'
        if user
        else ""
    )
    meta = '<meta http-equiv="refresh" content="60">' if refresh else ""
    return (
        '<!doctype html>\n<html lang="vi"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title>{meta}<style>{_STYLE}</style></head><body>"
        f'<header><h1><a href="/fleet">Thiết bị / Fleet</a> · {escape(title)}</h1>{signout}</header>'
        f"<main>{body}</main></body></html>\n"
    )


def _num(value: float | None, fmt: str = "{:.0f}", unit: str = "") -> str:
    return "–" if value is None else escape(fmt.format(value) + unit)


def _when(ts: float | None, tz: tzinfo | None) -> str:
    return "–" if ts is None else datetime.fromtimestamp(ts, tz).strftime("%d/%m/%Y %H:%M:%S")


def _status(r: DeviceRow) -> str:
    if r.revoked_at is not None:
        return '<span class="badge rev">thu hồi / revoked</span>'
    if r.online:
        return '<span class="badge on">trực tuyến / online</span>'
    return '<span class="badge off">mất tín hiệu / offline</span>'


def _modem(r: DeviceRow) -> str:
    signal, registered = r.metric("modem_signal_percent"), r.metric("modem_registered")
    if signal is None and registered is None:
        return "–"
    text = _num(signal, unit=" %")
    if registered == 0:
        text += ' <span class="fail">chưa đăng ký mạng / not registered</span>'
    return text


def _seen(r: DeviceRow, now: float) -> str:
    return "chưa bao giờ / never" if r.last_seen is None else escape(age_text(max(now - r.last_seen, 0.0)))


def fleet_page(rows: list[DeviceRow], now: datetime, *, user: str, csrf: str) -> str:
    """The fleet overview: a summary line, then one table per site."""
    ts = now.timestamp()
    active = [r for r in rows if r.revoked_at is None]
    offline = sum(1 for r in active if not r.online)
    failing = sum(1 for r in active if r.failing)
    parts = [
        '<p class="summary">'
        f"<span><b>{len(active)}</b> thiết bị / devices</span>"
        f'<span class="{"fail" if offline else ""}"><b>{offline}</b> mất tín hiệu / offline</span>'
        f"<span><b>{failing}</b> có kiểm tra lỗi / with failing checks</span>"
        f'<span class="muted">cập nhật / as of {escape(now.strftime("%d/%m/%Y %H:%M:%S"))}</span></p>'
    ]
    if not rows:
        parts.append("<p>Chưa có thiết bị nào / no devices enrolled yet.</p>")
    head = (
        "<tr><th>Thiết bị / Device</th><th>Trạng thái / Status</th><th>Vai trò / Role</th>"
        "<th>Phiên bản / Version</th><th>Tín hiệu cuối / Last heartbeat</th><th>Đồng bộ / Sync age</th>"
        "<th>Sóng modem / Signal</th><th>Hàng đợi SMS / SMS queue</th>"
        "<th>Kiểm tra lỗi / Failing checks</th><th>Bất nhất / Inconsistencies</th></tr>"
    )
    for site, members in grouped(rows):
        down = sum(1 for r in members if not r.online and r.revoked_at is None)
        parts.append(
            f'<section class="site"><h2>{escape(site)} <span class="muted">{len(members)} thiết bị'
            f"{f', {down} offline' if down else ''}</span></h2><table>{head}"
        )
        for r in members:
            cls = "revoked" if r.revoked_at is not None else ("" if r.online else "offline")
            sync = r.metric("sync_age_seconds")
            queue = r.metric("sms_outbox_queued")
            inbox = r.metric("sms_inbox_pending")
            sms = "–" if queue is None else _num(queue) + (f" (+{_num(inbox)} in)" if inbox else "")
            incons = r.state.inconsistencies_total if r.state else 0
            parts.append(
                f'<tr class="{cls}" data-device="{escape(r.device_id)}">'
                f'<td><a href="/fleet/devices/{quote(r.device_id)}">{escape(r.name)}</a>'
                f'<br><code class="muted">{escape(r.device_id)}</code></td>'
                f"<td>{_status(r)}</td><td>{escape(r.role)}</td><td>{escape(r.version) or '–'}</td>"
                f"<td>{_seen(r, ts)}</td><td>{'–' if sync is None else escape(age_text(sync))}</td>"
                f"<td>{_modem(r)}</td><td>{sms}</td>"
                f'<td class="fail">{escape(", ".join(r.failing))}</td>'
                f'<td class="{"warn" if incons else ""}">{incons or ""}</td></tr>'
            )
        parts.append("</table></section>")
    return _shell("Thiết bị theo điểm / Devices by site", "".join(parts), user=user, csrf=csrf, refresh=True)


_HISTORY_COLUMNS = (
    ("sync_age_seconds", "Đồng bộ / Sync", lambda v: age_text(v)),
    ("modem_signal_percent", "Sóng / Signal", lambda v: f"{v:.0f} %"),
    ("sms_outbox_queued", "SMS chờ / queued", lambda v: f"{v:.0f}"),
    ("disk_free_ratio", "Đĩa trống / Disk free", lambda v: f"{v * 100:.0f} %"),
    ("cpu_temperature_celsius", "CPU", lambda v: f"{v:.0f} °C"),
)


def device_page(
    row: DeviceRow,
    history: list[dict[str, Any]],
    inconsistencies: list[dict[str, Any]],
    now: datetime,
    *,
    user: str,
    csrf: str,
) -> str:
    """One device: its latest state, doctor checks, inconsistencies and heartbeat history."""
    tz = now.tzinfo
    st = row.state if row.state and row.state.has_heartbeat else None
    facts = [
        ("Mã / Id", f"<code>{escape(row.device_id)}</code>"),
        ("Điểm / Site", escape(row.site)),
        ("Trạng thái / Status", _status(row)),
        ("Vai trò / Role", escape(row.role)),
        ("Phiên bản / Version", escape(row.version) or "–"),
        ("Đăng ký / Enrolled", escape(row.enrolled_at[:19])),
        ("Tín hiệu cuối / Last heartbeat", f"{_when(row.last_seen, tz)} ({_seen(row, now.timestamp())})"),
    ]
    if st is not None:
        skew = st.skew_seconds or 0.0
        warn = ' <span class="warn">đồng hồ lệch / clock skew</span>' if abs(skew) > 120 else ""
        facts += [
            ("Gửi lúc (đồng hồ thiết bị) / Sent at (device clock)", escape(st.sent_at) + warn),
            ("Lệch đồng hồ / Clock skew", escape(f"{skew:+.1f} s")),
            ("Hoạt động / Uptime", escape(age_text(st.uptime_seconds))),
        ]
    parts = ["<table>" + "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in facts) + "</table>"]
    if row.revoked_at is None:
        parts.append(
            f'<form method="post" action="/fleet/devices/{quote(row.device_id)}/revoke">'
            f'<input type="hidden" name="csrf" value="{escape(csrf)}"><p>'
            '<button type="submit">Thu hồi khoá thiết bị / Revoke device key</button></p></form>'
        )
    if st is not None:
        parts.append("<h2>Kiểm tra gần nhất / Latest doctor checks</h2><table>"
                     "<tr><th>Kiểm tra / Check</th><th>Kết quả / Status</th><th>Chi tiết / Detail</th></tr>")  # fmt: skip
        for c in st.checks:
            cls = {"fail": "fail", "warn": "warn"}.get(c.get("status", ""), "")
            parts.append(
                f'<tr><td>{escape(c["name"])}</td><td class="{cls}">{escape(c.get("status", ""))}</td>'
                f"<td>{escape(c.get('detail', ''))}</td></tr>"
            )
        parts.append(
            "</table><h2>Chỉ số / Metrics</h2><table><tr><th>Tên / Name</th><th>Giá trị / Value</th></tr>"
        )
        parts += [
            f"<tr><td><code>{escape(k)}</code></td><td>{escape(f'{v:g}')}</td></tr>"
            for k, v in sorted(st.metrics.items())
        ]
        parts.append("</table>")
    if inconsistencies:
        parts.append(
            "<h2>Bất nhất đã báo / Reported inconsistencies</h2><table><tr><th>Mã hồ sơ / Code</th>"
            "<th>Bản bộ nhớ đệm / Cached</th><th>Bản trung tâm / Central</th><th>Kênh / Channel</th>"
            "<th>Lúc / At</th></tr>"
        )
        parts += [
            f"<tr><td><code>{escape(i['code'])}</code></td><td>{escape(str(i['cached_version']))}</td>"
            f"<td>{escape(str(i['central_version']))}</td><td>{escape(i['channel'])}</td>"
            f"<td>{escape(i['at'][:19])}</td></tr>"
            for i in inconsistencies
        ]
        parts.append("</table>")
    parts.append(
        f'<h2>Lịch sử tín hiệu / Heartbeat history <span class="muted">{len(history)} gần nhất / newest</span>'
        "</h2><table><tr><th>Nhận lúc / Received</th><th>#</th><th>Lệch / Skew</th><th>Phiên bản / Version</th>"
        + "".join(f"<th>{escape(title)}</th>" for _, title, _ in _HISTORY_COLUMNS)
        + "<th>Kiểm tra lỗi / Failing</th></tr>"
    )
    for h in history:
        cells = "".join(
            f"<td>{'–' if h['metrics'].get(k) is None else escape(fmt(h['metrics'][k]))}</td>"
            for k, _, fmt in _HISTORY_COLUMNS
        )
        skew_text = f"{h['skew_seconds'] or 0:+.0f} s"
        parts.append(
            f'<tr class="hb"><td>{_when(h["received_at"], tz)}</td><td>{h["seq"]}</td>'
            f"<td>{escape(skew_text)}</td><td>{escape(h['version'])}</td>{cells}"
            f'<td class="fail">{escape(", ".join(h["failing"]))}</td></tr>'
        )
    parts.append("</table>")
    return _shell(row.name, "".join(parts), user=user, csrf=csrf)


def login_page(*, csrf: str, error: str = "") -> str:
    """The sign-in form (CSRF token in a hidden field, matched against a cookie)."""
    err = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    body = (
        '<form class="login" method="post" action="/fleet/login"><h2>Đăng nhập / Sign in</h2>'
        f'{err}<input type="hidden" name="csrf" value="{escape(csrf)}">'
        '<label for="user">Tên đăng nhập / User</label>'
        '<input id="user" name="user" autocomplete="username" required maxlength="32">'
        '<label for="password">Mật khẩu / Password</label>'
        '<input id="password" name="password" type="password" autocomplete="current-password" required'
        ' maxlength="200"><p><button type="submit">Đăng nhập / Sign in</button></p>'
        '<p class="muted">Cán bộ CNTT. Quản trị viên có thể đăng nhập bằng tên <code>admin</code> và admin '
        "token. / ICT staff only; administrators may sign in as <code>admin</code> with the admin token.</p>"
        "</form>"
    )
    return _shell("Đăng nhập / Sign in", body)


def message_page(title: str, text: str) -> str:
    """A short page saying why something was refused."""
    return _shell(
        title, f'<p class="error">{escape(text)}</p><p><a href="/fleet/login">Đăng nhập / Sign in</a></p>'
    )
