"""Gateway health for ``motcua sms status`` and the fleet health exporter: modems, queues, counters."""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

from dossier.model import VN_TZ
from sms_gateway.store import SmsStore
from sms_gateway.store_types import STATUS_KEY

STALE_AFTER = 60.0  # a snapshot older than this means the gateway is not running


def gateway_health(store: SmsStore, *, now: float | None = None) -> dict[str, Any]:
    """The running gateway's last snapshot (modems, counters) merged with the database's queue figures."""
    now = time.time() if now is None else now
    raw = store.get_meta(STATUS_KEY, "")
    try:
        snapshot: dict[str, Any] = json.loads(raw) if raw else {}
    except ValueError:
        snapshot = {}
    updated = snapshot.get("updated_at")
    running = (
        isinstance(updated, (int, float)) and now - updated < STALE_AFTER and not snapshot.get("stopped")
    )
    return {
        "running": running,
        "snapshot_age": None if updated is None else round(now - updated, 1),
        **snapshot,
        "store": store.stats(),
    }


def _when(ts: Any) -> str:
    if ts is None:
        return "never"
    if isinstance(ts, str):
        return ts
    return datetime.fromtimestamp(float(ts), VN_TZ).strftime("%Y-%m-%d %H:%M:%S")


def format_health(h: dict[str, Any]) -> str:
    """Plain text for a technician."""
    st = h["store"]
    out = st["outbox"]
    lines = [
        f"gateway: {'running' if h['running'] else 'NOT RUNNING'}"
        + (f" (status {h['snapshot_age']} s old)" if h.get("snapshot_age") is not None else ""),
        f"outbox: queued {out['queued']}, sending {out['sending']}, unconfirmed {out['unconfirmed']},"
        f" sent {out['sent']}, delivered {out['delivered']}, failed {out['failed']}",
        f"inbound: {st['received_24h']} messages in 24 h, {st['parts_waiting']} parts waiting for the rest,"
        f" {st['parts_undecodable']} undecodable; states {st['messages'] or {}}",
        f"last received {_when(st['last_received_at'])}, last sent {_when(st['last_sent_at'])};"
        f" sent 24 h {st['sent_24h']}, failed 24 h {st['failed_24h']}",
        f"subscriptions: {st['subscriptions']}; mean reply time 24 h: "
        + ("n/a" if st["mean_reply_seconds_24h"] is None else f"{st['mean_reply_seconds_24h']:.1f} s"),
    ]
    for m in h.get("modems", []):
        signal = (
            "unknown" if m.get("signal_percent") is None else f"{m['signal_percent']}% (CSQ {m['signal']})"
        )
        storage = (
            "unknown"
            if m.get("storage_total") is None
            else f"{m.get('storage_used')}/{m.get('storage_total')}"
        )
        lines.append(
            f"modem {m['port']}: {'connected' if m['connected'] else 'DISCONNECTED'}, {m.get('manufacturer', '')}"
            f" {m.get('model', '')}; signal {signal}; network {m['registration']} {m.get('operator', '')};"
            f" SIM {m['sim_state']}; storage {storage}"
        )
        w = m.get("worker", {})
        lines.append(
            f"  sent parts {m['sent_parts']}, received parts {m['received_parts']}, send errors {m['send_errors']},"
            f" decode errors {m['decode_errors']}, timeouts {m['command_timeouts']}, reconnects {m['reconnects']};"
            f" worker sent {w.get('sent', 0)}, failures {w.get('failures', 0)}"
            + (f"; last error: {m['last_error']}" if m.get("last_error") else "")
        )
    breaker = (h.get("lookup") or {}).get("breaker")
    if breaker:
        lines.append(format_breaker(breaker))
    if h.get("inbound"):
        inbound = h["inbound"]
        lines.append(
            f"handled since start: {inbound['handled']}, errors {inbound['errors']},"
            f" set aside {inbound.get('set_aside', 0)}"
        )
    return "\n".join(lines)


def format_breaker(b: dict[str, Any]) -> str:
    """One line on the lookup's circuit breaker (open: unknown codes are answered "cannot check now")."""
    state = str(b.get("state", "unknown"))
    text = f"lookup breaker: {state.upper() if state != 'closed' else state}"
    if b.get("failures"):
        text += f", {b['failures']} failure(s) in a row"
    if state != "closed" and b.get("since"):
        text += f" since {_when(b['since'])}"
    if state != "closed" and b.get("last_error"):
        text += f"; last error: {b['last_error']}"
    return text
