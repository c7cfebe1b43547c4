"""Demo data: every state, valid codes, deterministic, second-factor secrets, activity and the CLI."""

from __future__ import annotations

import random
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

from central.demo import AGENCIES, DemoActivity, advance, demo_secrets, generate, load_demo
from central.store import CentralStore
from dossier.codes import parse_code
from dossier.model import VN_TZ, Status, secret_matches

NOW = datetime(2024, 3, 20, 10, 30, tzinfo=VN_TZ)


def test_demo_covers_every_state_with_valid_codes() -> None:
    dossiers = generate(3000, now=NOW)
    assert len(dossiers) == 3000
    counts = Counter(d.status for d in dossiers)
    assert set(counts) == set(Status)
    assert len({d.code for d in dossiers}) == 3000
    assert {d.agency_id for d in dossiers} == {a.id for a in AGENCIES}
    for d in dossiers:
        code = parse_code(d.code)
        assert code.value == d.code and code.agency == d.agency_id
        assert code.received == (d.received_at or d.submitted_at).date()
        assert d.history and d.updated_at <= NOW and all(s.at <= NOW for s in d.history)
        assert NOW - (d.submitted_at or d.received_at) < timedelta(days=65)
        if d.due_at and d.received_at:
            assert d.due_at > d.received_at
    overdue = [d for d in dossiers if not d.status.ends_processing and d.is_overdue(NOW)]
    late = [d for d in dossiers if d.status in (Status.FINISHED, Status.RETURNED) and d.is_overdue(NOW)]
    assert overdue and late
    assert {d.procedure_name for d in dossiers} >= {
        "Đăng ký khai sinh",
        "Cấp giấy phép xây dựng nhà ở riêng lẻ",
    }
    assert any(d.applicant_name.startswith("Nguyễn ") for d in dossiers)


def test_demo_is_deterministic_and_sequences_per_agency_day() -> None:
    a, b = generate(500, now=NOW), generate(500, now=NOW)
    assert [d.encode() for d in a] == [d.encode() for d in b]
    assert [d.code for d in generate(500, now=NOW, seed=1)] != [d.code for d in a]
    by_day: dict[str, list[int]] = {}
    for d in a:
        by_day.setdefault(d.code.rsplit("-", 1)[0], []).append(int(d.code.rsplit("-", 1)[1]))
    for seqs in by_day.values():
        assert sorted(seqs) == list(range(1, len(seqs) + 1))


def test_demo_secrets_match_the_stored_hashes() -> None:
    for d in generate(50, now=NOW):
        secret = demo_secrets(d.code)
        assert secret_matches(d.owner_phone_hash, secret["phone"])
        assert secret_matches(d.owner_id4_hash, secret["id4"])
        assert secret["phone"] not in d.encode().decode()


def test_advance_moves_states_forward() -> None:
    rng = random.Random(1)
    d = next(x for x in generate(300, now=NOW) if x.status == Status.SUBMITTED_ONLINE)
    later = NOW + timedelta(minutes=5)
    seen = [d.status]
    for _ in range(12):
        d = advance(d, later, rng)
        seen.append(d.status)
        if d.status == Status.RETURNED:
            break
    assert seen[:3] == [Status.SUBMITTED_ONLINE, Status.ACCEPTED, Status.IN_PROGRESS]
    assert seen[-1] == Status.RETURNED and d.returned_at == later and d.received_at == later
    assert d.due_at is not None and len(d.history) == len(seen)


def test_activity_tick_changes_dossiers(tmp_path: Path) -> None:
    store = CentralStore(tmp_path / "c.db")
    try:
        load_demo(store, 200, NOW)
        before = store.latest_seq([])
        codes = DemoActivity(store, 20, lambda: NOW + timedelta(minutes=1)).tick()
        assert len(codes) == 3
        assert store.latest_seq([]) == before + 3
        assert all(store.get(c).version == 2 for c in codes)
    finally:
        store.close()
