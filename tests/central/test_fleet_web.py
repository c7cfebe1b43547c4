"""The fleet pages behind the staff sign-in: HTTP checks, and a real headless Chromium (Playwright)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from central.fleet_store import FleetStore, fleet_path_for
from central.staff import StaffAuth, add_staff
from dossier.errors import InvalidInput
from tests.central.conftest import ADMIN, NOW, Central
from tests.central.test_devices_api import enrolled, hb, send

USER, PASSWORD = "lan.nguyen", "correct horse battery"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip


@pytest.fixture
def fleet(central: Central) -> Central:
    """Central with a staff account and four devices on two sites, one of them offline."""
    store = FleetStore(fleet_path_for(central.db))
    try:
        add_staff(store, USER, PASSWORD)
    finally:
        store.close()
    ids = {}
    for name, site, role in (("kiosk-a1", "Xã An Bình", "kiosk"), ("<script>alert(1)</script>", "Xã An Bình", "sms"),
                             ("kiosk-b1", "Phường Bến Nghé", "kiosk"), ("gw-b2", "Phường Bến Nghé", "both")):  # fmt: skip
        device_id, key = enrolled(central, name)
        ids[name] = (device_id, key, site, role)
    # gw-b2 sends its last heartbeat at 10:00 and then goes quiet; the others keep beating until 10:10
    _, key, site, role = ids["gw-b2"]
    checks = [{"name": "modem", "status": "fail", "detail": "no SIM <b>card</b>"}]
    assert send(central, key, [hb(1, site=site, role=role, checks=checks)]).status_code == 204
    central.clock.now = NOW + timedelta(minutes=10)
    for name, (_, key, site, role) in ids.items():
        if name != "gw-b2":
            beats = [hb(s, site=site, role=role) for s in (1, 2, 3)]
            assert send(central, key, beats).status_code == 204
    central.ids = ids  # type: ignore[attr-defined]
    return central


def login(
    central: Central, http: requests.Session, user: str, password: str, **headers: str
) -> requests.Response:
    form = http.get(central.url + "/fleet/login", timeout=30)
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf is not None
    return http.post(
        central.url + "/fleet/login",
        data={"user": user, "password": password, "csrf": csrf.group(1)},
        headers=headers,
        allow_redirects=False,
        timeout=30,
    )


def test_pages_need_a_session(fleet: Central) -> None:
    for path in ("/fleet", "/fleet/devices/dev_x"):
        resp = fleet.get(path, allow_redirects=False)
        assert resp.status_code == 303 and resp.headers["location"] == "/fleet/login"
    resp = fleet.get("/fleet", headers={"Authorization": f"Bearer {ADMIN}"}, allow_redirects=False)
    assert resp.status_code == 303  # the admin token opens a session through the form, not per request
    assert fleet.post("/fleet/logout", data={"csrf": "x"}, allow_redirects=False).status_code == 303


def test_sign_in_checks_csrf_origin_and_password(fleet: Central) -> None:
    with requests.Session() as http:
        no_token = http.post(fleet.url + "/fleet/login", data={"user": USER, "password": PASSWORD},
                             allow_redirects=False, timeout=30)  # fmt: skip
        assert no_token.status_code == 403 and "motcua_fleet=" not in no_token.headers.get("set-cookie", "")
        cross = login(fleet, http, USER, PASSWORD, Origin="http://evil.example")
        assert cross.status_code == 403
        wrong = login(fleet, http, USER, "not the password")
        assert wrong.status_code == 401 and "wrong user name or password" in wrong.text
        ok = login(fleet, http, USER, PASSWORD)
        assert ok.status_code == 303 and ok.headers["location"] == "/fleet"
        cookie = ok.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/fleet" in cookie
        assert "Max-Age=28800" in cookie and "Secure" not in cookie  # plain http on loopback
        page = http.get(fleet.url + "/fleet", timeout=30)
        assert page.status_code == 200 and "kiosk-a1" in page.text
        assert "default-src 'none'" in page.headers["content-security-policy"]
        fleet.clock.now = NOW + timedelta(hours=9)  # the session expired
        assert http.get(fleet.url + "/fleet", allow_redirects=False, timeout=30).status_code == 303


def test_failed_sign_ins_lock_the_user_out(fleet: Central) -> None:
    with requests.Session() as http:
        for _ in range(5):
            assert login(fleet, http, USER, "guess").status_code == 401
        locked = login(fleet, http, USER, PASSWORD)
        assert locked.status_code == 401 and "too many failed sign-ins" in locked.text


def test_admin_token_signs_in_as_admin_only_when_long_enough(fleet: Central, tmp_path: Path) -> None:
    with requests.Session() as http:
        assert login(fleet, http, "admin", ADMIN).status_code == 303
        assert http.get(fleet.url + "/fleet", timeout=30).status_code == 200
    store = FleetStore(tmp_path / "other" / "fleet.db")
    try:
        for weak in ("change-me", "short-token", ""):
            with pytest.raises(InvalidInput, match="wrong user name or password"):
                StaffAuth(store, weak).authenticate("admin", weak, NOW.timestamp())
        with pytest.raises(InvalidInput, match="reserved"):
            add_staff(store, "admin", "a long enough password")
        with pytest.raises(InvalidInput, match="10 to 200"):
            add_staff(store, "bob", "short")
        with pytest.raises(InvalidInput, match="invalid user name"):
            add_staff(store, "Bob Smith", "a long enough password")
        add_staff(store, "bob", "a long enough password")
        with pytest.raises(InvalidInput, match="already exists"):
            add_staff(store, "bob", "another long password")
        with store.reader.reading() as conn:
            stored = conn.execute("SELECT password FROM staff WHERE user = 'bob'").fetchone()[0]
        assert stored.startswith("scrypt$") and "a long enough password" not in stored
    finally:
        store.close()


def test_overview_and_device_page_escape_device_text(fleet: Central) -> None:
    with requests.Session() as http:
        assert login(fleet, http, USER, PASSWORD).status_code == 303
        page = http.get(fleet.url + "/fleet", timeout=30).text
        assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        device_id = fleet.ids["gw-b2"][0]  # type: ignore[attr-defined]
        detail = http.get(f"{fleet.url}/fleet/devices/{device_id}", timeout=30).text
        assert "no SIM &lt;b&gt;card&lt;/b&gt;" in detail and "<b>card" not in detail
        assert http.get(fleet.url + "/fleet/devices/dev_nope", timeout=30).status_code == 404


def test_staff_revokes_a_device_from_its_page(fleet: Central) -> None:
    device_id, key, site, role = fleet.ids["kiosk-b1"]  # type: ignore[attr-defined]
    with requests.Session() as http:
        assert login(fleet, http, USER, PASSWORD).status_code == 303
        path = f"{fleet.url}/fleet/devices/{device_id}/revoke"
        assert http.post(path, data={"csrf": "forged"}, allow_redirects=False, timeout=30).status_code == 403
        assert send(fleet, key, [hb(4, site=site, role=role)]).status_code == 204
        page = http.get(f"{fleet.url}/fleet/devices/{device_id}", timeout=30).text
        csrf = re.search(r'name="csrf" value="([^"]+)"', page)
        assert csrf is not None
        done = http.post(path, data={"csrf": csrf.group(1)}, allow_redirects=False, timeout=30)
        assert done.status_code == 303
    assert send(fleet, key, [hb(5, site=site, role=role)]).status_code == 401


@pytest.fixture
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS, timeout=60_000)
        try:
            yield b
        finally:
            b.close()


def test_in_chromium_sign_in_see_offline_first_open_history_sign_out(
    fleet: Central, browser: Any, tmp_path: Path
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(20_000)
    page = context.new_page()
    page.goto(fleet.url + "/fleet")
    assert page.url.endswith("/fleet/login")  # redirected to the sign-in form

    page.fill("#user", USER)
    page.fill("#password", "wrong password!")
    page.click("button[type=submit]")
    assert "wrong user name or password" in page.inner_text("[role=alert]")

    page.fill("#user", USER)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/fleet")
    session = [c for c in context.cookies() if c["name"] == "motcua_fleet"]
    assert session and session[0]["httpOnly"] and session[0]["sameSite"] == "Strict"

    sites = page.locator("section.site h2").all_inner_texts()
    assert (
        sites[0].startswith("Phường Bến Nghé") and "1 offline" in sites[0]
    )  # the site with an offline device
    assert sites[1].startswith("Xã An Bình")
    first = page.locator("section.site").first.locator("tr[data-device]").first
    assert "gw-b2" in first.inner_text() and "offline" in first.inner_text()
    assert first.get_attribute("class") == "offline"
    assert "modem" in first.inner_text()  # its failing check
    assert "<script>alert(1)</script>" in page.inner_text("body")  # shown as text, not run
    shot = tmp_path / "fleet.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000

    page.click("text=kiosk-a1")
    page.wait_for_url("**/fleet/devices/*")
    assert page.locator("tr.hb").count() == 3  # its three heartbeats
    assert "Xã An Bình" in page.inner_text("table")
    page.screenshot(path=str(tmp_path / "device.png"), full_page=True)

    page.click("text=Đăng xuất / Sign out")
    page.wait_for_url("**/fleet/login")
    page.goto(fleet.url + "/fleet")
    assert page.url.endswith("/fleet/login")
    context.close()


def test_add_staff_account_opens_the_fleet_db_next_to_central(central: Central) -> None:
    from central.staff import add_staff_account

    add_staff_account(central.db, "minh.tran", "another good password")
    with requests.Session() as http:
        assert login(central, http, "minh.tran", "another good password").status_code == 303
