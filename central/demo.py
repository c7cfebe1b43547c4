"""Deterministic, realistic Vietnamese demo data for the reference service, and a demo "activity" thread.

Agencies are in Hà Nam (H56) with identifiers in the QCVN 102:2016 shape (district ``000.00.15.H56``,
commune ``000.17.15.H56``); the identifiers, procedure codes and people are illustrative, not a copy of
a real registry. Codes follow Thông tư 01/2018 (``<agency>-<YYMMDD>-<NNNN>``, sequence per agency and
day). Dates lie within the ~60 days before ``now`` so the demo looks current. Owner phone numbers and
ID numbers are derived from the code: ``demo_secrets(code)`` gives them back for tests and the
``demo-codes`` command; the store only holds their salted hashes.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from msgspec.structs import replace

from central.store import CentralStore
from dossier.model import VN_TZ, Dossier, HistoryStep, Status, secret_hash

log = logging.getLogger(__name__)

DEFAULT_SEED = 766
WINDOW_DAYS = 60


@dataclass(frozen=True)
class Procedure:
    """An administrative procedure: national code, name, legal deadline in working days, department."""

    code: str
    name: str
    days: int
    department: str


@dataclass(frozen=True)
class Agency:
    """A receiving agency with the procedures it handles and a relative volume weight."""

    id: str
    name: str
    level: str  # province | district | commune
    weight: int


_COMMUNE = (
    Procedure("1.001193", "Đăng ký khai sinh", 1, "Công chức Tư pháp - Hộ tịch"),
    Procedure("1.000894", "Đăng ký kết hôn", 3, "Công chức Tư pháp - Hộ tịch"),
    Procedure("1.000656", "Đăng ký khai tử", 1, "Công chức Tư pháp - Hộ tịch"),
    Procedure(
        "2.000815", "Chứng thực bản sao từ bản chính giấy tờ, văn bản", 1, "Công chức Tư pháp - Hộ tịch"
    ),
    Procedure("1.004873", "Cấp Giấy xác nhận tình trạng hôn nhân", 3, "Công chức Tư pháp - Hộ tịch"),
    Procedure("1.004194", "Đăng ký thường trú", 7, "Công an xã"),
)
_DISTRICT = (
    Procedure("1.009994", "Cấp giấy phép xây dựng nhà ở riêng lẻ", 15, "Phòng Kinh tế và Hạ tầng"),
    Procedure("2.000720", "Đăng ký thành lập hộ kinh doanh", 3, "Phòng Tài chính - Kế hoạch"),
    Procedure(
        "1.003003",
        "Cấp Giấy chứng nhận quyền sử dụng đất, quyền sở hữu nhà ở và tài sản khác gắn liền với đất lần đầu",
        30,
        "Phòng Tài nguyên và Môi trường",
    ),
    Procedure("2.000815", "Chứng thực bản sao từ bản chính giấy tờ, văn bản", 1, "Phòng Tư pháp"),
    Procedure("1.001695", "Đăng ký khai sinh có yếu tố nước ngoài", 15, "Phòng Tư pháp"),
)
_PROVINCE = (
    Procedure("2.000488", "Cấp Phiếu lý lịch tư pháp cho công dân Việt Nam", 10, "Phòng Hành chính tư pháp"),
    Procedure("2.001035", "Cấp lại Phiếu lý lịch tư pháp", 10, "Phòng Hành chính tư pháp"),
)
PROCEDURES = {"commune": _COMMUNE, "district": _DISTRICT, "province": _PROVINCE}

AGENCIES = (
    Agency("000.00.10.H56", "Sở Tư pháp tỉnh Hà Nam", "province", 2),
    Agency("000.00.15.H56", "UBND huyện Duy Tiên", "district", 4),
    Agency("000.00.14.H56", "UBND huyện Kim Bảng", "district", 3),
    Agency("000.17.15.H56", "UBND xã Tiên Ngoại", "commune", 3),
    Agency("000.22.15.H56", "UBND xã Châu Sơn", "commune", 2),
    Agency("000.05.14.H56", "UBND xã Nhật Tân", "commune", 2),
)

_FAMILY = (
    "Nguyễn",
    "Trần",
    "Lê",
    "Phạm",
    "Hoàng",
    "Phan",
    "Vũ",
    "Đặng",
    "Bùi",
    "Đỗ",
    "Hồ",
    "Ngô",
    "Dương",
    "Lý",
    "Đinh",
)
_FAMILY_W = (38, 11, 9, 7, 5, 4, 4, 3, 3, 3, 2, 2, 2, 1, 2)
_MALE_MID = ("Văn", "Đức", "Minh", "Quang", "Hữu", "Thanh", "Xuân", "Công", "Ngọc")
_FEMALE_MID = ("Thị", "Thu", "Ngọc", "Thanh", "Minh", "Phương", "Hồng", "Kim")
_MALE = ("An", "Bình", "Cường", "Dũng", "Đạt", "Hải", "Hiếu", "Hùng", "Huy", "Khánh", "Long", "Minh", "Nam",
         "Phúc", "Quân", "Sơn", "Thắng", "Thành", "Trung", "Tuấn", "Việt", "Vinh")  # fmt: skip
_FEMALE = ("Anh", "Chi", "Dung", "Giang", "Hà", "Hạnh", "Hằng", "Hoa", "Hương", "Lan", "Linh", "Mai", "Nga",
           "Ngọc", "Nhung", "Oanh", "Phương", "Quỳnh", "Thảo", "Trang", "Vân", "Yến")  # fmt: skip
_COMPANIES = ("Công ty TNHH Xây dựng Minh Phát", "Công ty Cổ phần Thương mại Duy Tiên",
              "Hợp tác xã Nông nghiệp Tiên Ngoại", "Công ty TNHH Dệt may Hà Nam")  # fmt: skip
_SUPPLEMENT = ("thiếu bản sao Giấy khai sinh", "thiếu bản vẽ thiết kế có chữ ký", "tờ khai chưa có xác nhận",
               "thiếu giấy tờ chứng minh nơi cư trú", "trích lục bản đồ địa chính không rõ")  # fmt: skip
_REFUSAL = ("Hồ sơ không thuộc thẩm quyền giải quyết", "Giấy tờ không hợp lệ theo quy định")
_STOP = ("Có tranh chấp đất đai, dừng xử lý theo quy định", "Cơ quan có thẩm quyền yêu cầu dừng xử lý")


def demo_secrets(code: str) -> dict[str, str]:
    """The clear demo owner phone and ID number of a demo code (demo data only; never stored)."""
    h = hashlib.sha256(f"motcua-demo:{code}".encode()).digest()
    n = int.from_bytes(h[:8], "big")
    phone = "0" + ("9", "8", "3", "7")[n % 4] + f"{n // 4 % 100_000_000:08d}"
    id_number = "035" + f"{n // 7 % 1_000_000_000:09d}"
    return {"phone": phone, "id_number": id_number, "id4": id_number[-4:]}


def _salt(code: str, what: str) -> str:
    return hashlib.sha256(f"salt:{what}:{code}".encode()).hexdigest()[:16]


def _person(rng: random.Random) -> str:
    family = rng.choices(_FAMILY, _FAMILY_W)[0]
    if rng.random() < 0.5:
        return f"{family} {rng.choice(_MALE_MID)} {rng.choice(_MALE)}"
    return f"{family} {rng.choice(_FEMALE_MID)} {rng.choice(_FEMALE)}"


def add_working_days(start: datetime, days: int) -> datetime:
    """17:00 on the ``days``-th working day (Mon–Fri) after ``start`` (demo only: no holiday table)."""
    d = start
    left = max(days, 1)
    while left:
        d += timedelta(days=1)
        if d.weekday() < 5:
            left -= 1
    return d.replace(hour=17, minute=0, second=0, microsecond=0)


class _Staff:
    """Deterministic officers per agency: reception, one per department, a leader."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.cache: dict[tuple[str, str], str] = {}

    def get(self, agency: Agency, role: str) -> str:
        key = (agency.id, role)
        if key not in self.cache:
            self.cache[key] = _person(self.rng)
        return self.cache[key]


def _leader_title(agency: Agency) -> str:
    return {"province": "Phó Giám đốc Sở", "district": "Phó Chủ tịch UBND huyện"}.get(
        agency.level, "Phó Chủ tịch UBND xã"
    )


def _pick_status(rng: random.Random, due_passed: bool, age_days: float) -> Status:
    r = rng.random()
    if age_days < 3 and r < 0.08:
        return Status.SUBMITTED_ONLINE
    r = rng.random()
    for status, p in ((Status.NOT_ACCEPTED, 0.02), (Status.WITHDRAWN, 0.015), (Status.STOPPED, 0.015)):
        if r < p:
            return status
        r -= p
    weights = (
        {
            Status.RETURNED: 76,
            Status.FINISHED: 12,
            Status.IN_PROGRESS: 6,
            Status.SUPPLEMENT_REQUESTED: 4,
            Status.FEES_DUE: 2,
        }
        if due_passed
        else {
            Status.ACCEPTED: 16,
            Status.IN_PROGRESS: 46,
            Status.SUPPLEMENT_REQUESTED: 8,
            Status.FEES_DUE: 5,
            Status.FINISHED: 16,
            Status.RETURNED: 9,
        }  # fmt: skip
    )
    return rng.choices(list(weights), list(weights.values()))[0]


def _office_time(rng: random.Random, day: datetime) -> datetime:
    minute = rng.choice((rng.randint(7 * 60 + 30, 11 * 60 + 15), rng.randint(13 * 60 + 30, 16 * 60 + 45)))
    return day.replace(hour=minute // 60, minute=minute % 60, second=rng.randint(0, 59), microsecond=0)


def _between(rng: random.Random, a: datetime, b: datetime) -> datetime:
    if b <= a:
        return a
    return a + timedelta(seconds=rng.randint(0, int((b - a).total_seconds())))


def generate(n: int = 3000, *, now: datetime, seed: int = DEFAULT_SEED) -> list[Dossier]:
    """``n`` demo dossiers, the same for the same ``n``, ``now`` and ``seed``."""
    rng = random.Random(seed)
    now = now.astimezone(VN_TZ).replace(microsecond=0)
    staff = _Staff(random.Random(seed + 1))
    days = [
        d
        for i in range(WINDOW_DAYS, -1, -1)
        if (d := (now - timedelta(days=i)).replace(hour=0, minute=0, second=0)).weekday() < 5
    ]
    drafts = []
    for _ in range(n):
        agency = rng.choices(AGENCIES, [a.weight for a in AGENCIES])[0]
        proc = rng.choice(PROCEDURES[agency.level])
        received = _office_time(rng, rng.choice(days))
        if received > now:
            received = now - timedelta(minutes=rng.randint(5, 120))
        drafts.append((received, agency, proc))
    drafts.sort(key=lambda t: (t[0], t[1].id))
    seq: dict[tuple[str, str], int] = {}
    out = []
    for received, agency, proc in drafts:
        key = (agency.id, received.strftime("%y%m%d"))
        seq[key] = seq.get(key, 0) + 1
        code = f"{agency.id}-{key[1]}-{seq[key]:04d}"
        out.append(_dossier(rng, staff, code, agency, proc, received, now))
    return out


def _dossier(
    rng: random.Random,
    staff: _Staff,
    code: str,
    agency: Agency,
    proc: Procedure,
    received: datetime,
    now: datetime,
) -> Dossier:
    due = add_working_days(received, proc.days)
    status = _pick_status(rng, due < now, (now - received).total_seconds() / 86400)
    online = status == Status.SUBMITTED_ONLINE or rng.random() < 0.3
    shift = timedelta(hours=rng.randint(1, 40))
    # the code carries the date received; dossiers never received carry the date submitted
    submitted = (
        received - shift
        if online and status not in (Status.SUBMITTED_ONLINE, Status.NOT_ACCEPTED)
        else received
    )
    reception = staff.get(agency, "reception")
    officer = staff.get(agency, proc.department)
    leader = staff.get(agency, "leader")
    one_stop = "Bộ phận Một cửa"
    steps: list[HistoryStep] = []
    finished_at = returned_at = None
    note = ""
    dept, handler = one_stop, reception

    def step(
        at: datetime, action: str, who: str, title: str, department: str, state: Status, deadline=None
    ) -> None:
        steps.append(
            HistoryStep(
                at=at,
                action=action,
                officer=who,
                title=title,
                department=department,
                state=str(int(state)),
                started_at=at,
                deadline_at=deadline,
            )  # fmt: skip
        )

    if status == Status.SUBMITTED_ONLINE:
        received_at, due_at = None, None
        step(submitted, "Công dân nộp hồ sơ trực tuyến", "", "", "Cổng Dịch vụ công", status)
    elif status == Status.NOT_ACCEPTED:
        received_at, due_at = None, None
        note = rng.choice(_REFUSAL)
        step(submitted, "Công dân nộp hồ sơ", "", "", one_stop, Status.SUBMITTED_ONLINE)
        step(_between(rng, submitted, min(now, submitted + timedelta(hours=4))), f"Từ chối tiếp nhận: {note}",
             reception, "Công chức tiếp nhận", one_stop, status)  # fmt: skip
    else:
        received_at, due_at = received, due
        step(received, "Tiếp nhận hồ sơ, hẹn trả kết quả", reception, "Công chức tiếp nhận", one_stop,
             Status.ACCEPTED, due)  # fmt: skip
        horizon = min(now, due) if due > received else now
        if status != Status.ACCEPTED:
            moved = _between(
                rng, received, min(now, received + timedelta(hours=3), received.replace(hour=17, minute=0))
            )
            step(moved, "Chuyển hồ sơ đến bộ phận chuyên môn xử lý", officer, "Chuyên viên", proc.department,
                 Status.IN_PROGRESS, due)  # fmt: skip
            dept, handler = proc.department, officer
        if status == Status.WITHDRAWN:
            at = _between(rng, moved, now)
            step(at, "Công dân yêu cầu rút hồ sơ", reception, "Công chức tiếp nhận", one_stop, status)
        elif status == Status.STOPPED:
            note = rng.choice(_STOP)
            at = _between(rng, moved, now)
            step(at, f"Dừng xử lý: {note}", leader, _leader_title(agency), "Lãnh đạo", status)
            finished_at = at
        elif status in (Status.SUPPLEMENT_REQUESTED, Status.FEES_DUE):
            at = _between(rng, moved, now)
            if status == Status.SUPPLEMENT_REQUESTED:
                note = "Cần bổ sung: " + rng.choice(_SUPPLEMENT)
                step(
                    at,
                    f"Yêu cầu bổ sung hồ sơ: {note[13:]}",
                    officer,
                    "Chuyên viên",
                    proc.department,
                    status,
                    due,
                )
            else:
                note = f"Nộp lệ phí {rng.choice((50, 100, 200, 500))}.000 đồng tại Bộ phận Một cửa"
                step(
                    at,
                    "Thông báo thực hiện nghĩa vụ tài chính",
                    officer,
                    "Chuyên viên",
                    proc.department,
                    status,
                )
        elif status in (Status.FINISHED, Status.RETURNED):
            late = rng.random() < 0.1
            if late and due < now:
                end = _between(rng, due + timedelta(hours=2), min(now, due + timedelta(days=6)))
            else:
                end = _between(rng, moved + (horizon - moved) * 0.3, horizon)
            signed = _between(rng, moved, end)
            step(
                signed,
                "Trình lãnh đạo ký duyệt",
                officer,
                "Chuyên viên",
                proc.department,
                Status.IN_PROGRESS,
                due,
            )
            step(end, "Ký duyệt, chuyển kết quả về Bộ phận Một cửa", leader, _leader_title(agency), "Lãnh đạo",
                 Status.FINISHED, due)  # fmt: skip
            finished_at, dept, handler = end, one_stop, reception
            if status == Status.RETURNED:
                returned_at = _between(rng, end, min(now, end + timedelta(days=3)))
                step(
                    returned_at,
                    "Trả kết quả cho công dân",
                    reception,
                    "Công chức trả kết quả",
                    one_stop,
                    status,
                )
            else:
                note = "Mời ông/bà mang Giấy tiếp nhận hồ sơ và hẹn trả kết quả đến nhận"
    organisation = rng.choice(_COMPANIES) if proc.days >= 3 and rng.random() < 0.1 else ""
    secrets_ = demo_secrets(code)
    return Dossier(
        code=code,
        version=1,
        status=status,
        agency_id=agency.id,
        agency_name=agency.name,
        procedure_code=proc.code,
        procedure_name=proc.name,
        applicant_name=_person(rng),
        organisation=organisation,
        submitted_at=submitted,
        received_at=received_at,
        due_at=due_at,
        finished_at=finished_at,
        returned_at=returned_at,
        handling_agency=agency.name,
        handling_department=dept,
        handling_officer=handler,
        note=note,
        updated_at=max(s.at for s in steps),
        history=tuple(sorted(steps, key=lambda s: s.at)),
        owner_phone_hash=secret_hash(secrets_["phone"], _salt(code, "phone")),
        owner_id4_hash=secret_hash(secrets_["id4"], _salt(code, "id4")),
    )


def load_demo(store: CentralStore, n: int, now: datetime, seed: int = DEFAULT_SEED) -> int:
    """Write ``n`` demo dossiers into ``store`` in one transaction; returns how many were written."""
    dossiers = generate(n, now=now, seed=seed)
    with store.writer(now) as w:
        for d in dossiers:
            w.put(d)
    log.info("demo data loaded: %d dossiers", len(dossiers))
    return len(dossiers)


_DAYS_BY_CODE = {p.code: p.days for group in PROCEDURES.values() for p in group}
_MOVABLE = (1, 2, 4, 5, 6, 9)


def advance(d: Dossier, now: datetime, rng: random.Random) -> Dossier:
    """The next plausible state of a demo dossier, with its history step."""
    now = now.astimezone(VN_TZ).replace(microsecond=0)
    s = d.status
    officer, dept = d.handling_officer, d.handling_department

    def with_step(status: Status, action: str, **changes) -> Dossier:
        step = HistoryStep(at=now, action=action, officer=changes.get("handling_officer", officer),
                           department=changes.get("handling_department", dept), state=str(int(status)),
                           started_at=now, deadline_at=changes.get("due_at", d.due_at))  # fmt: skip
        return replace(d, status=status, updated_at=now, history=(*d.history, step), **changes)

    if s == Status.SUBMITTED_ONLINE:
        due = add_working_days(now, _DAYS_BY_CODE.get(d.procedure_code, 5))
        return with_step(Status.ACCEPTED, "Tiếp nhận hồ sơ, hẹn trả kết quả", received_at=now, due_at=due,
                         handling_department="Bộ phận Một cửa")  # fmt: skip
    if s == Status.ACCEPTED:
        return with_step(Status.IN_PROGRESS, "Chuyển hồ sơ đến bộ phận chuyên môn xử lý")
    if s == Status.IN_PROGRESS:
        r = rng.random()
        if r < 0.6:
            return with_step(Status.FINISHED, "Ký duyệt, chuyển kết quả về Bộ phận Một cửa", finished_at=now,
                             note="Mời ông/bà mang Giấy tiếp nhận hồ sơ và hẹn trả kết quả đến nhận")  # fmt: skip
        if r < 0.8:
            note = "Cần bổ sung: " + rng.choice(_SUPPLEMENT)
            return with_step(Status.SUPPLEMENT_REQUESTED, f"Yêu cầu bổ sung hồ sơ: {note[13:]}", note=note)
        return with_step(
            Status.FEES_DUE, "Thông báo thực hiện nghĩa vụ tài chính", note="Nộp lệ phí 100.000 đồng"
        )
    if s in (Status.SUPPLEMENT_REQUESTED, Status.FEES_DUE):
        action = "Công dân đã bổ sung hồ sơ" if s == Status.SUPPLEMENT_REQUESTED else "Công dân đã nộp lệ phí"
        return with_step(Status.IN_PROGRESS, action, note="")
    if s == Status.FINISHED:
        return with_step(Status.RETURNED, "Trả kết quả cho công dân", returned_at=now, note="")
    return d


class DemoActivity:
    """Background thread that advances a few random dossiers every ``interval`` seconds (demo mode)."""

    def __init__(self, store: CentralStore, interval: float, clock, per_tick: int = 3) -> None:
        self.store = store
        self.interval = interval
        self.clock = clock
        self.per_tick = per_tick
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="central-demo-activity", daemon=True)
        self._rng = random.Random()

    def start(self) -> None:
        """Start ticking."""
        self._thread.start()
        log.info("demo activity started: %d dossiers every %.0f s", self.per_tick, self.interval)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop and wait for the thread."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        log.info("demo activity stopped")

    def tick(self) -> list[str]:
        """Advance a few dossiers now; returns their codes."""
        now = self.clock()
        codes = self.store.sample_codes(_MOVABLE, self.per_tick)
        with self.store.writer(now) as w:
            for code in codes:
                d = w.get(code)
                if d is not None:
                    w.put(advance(d, now, self._rng))
        if self.store.log_size() > self.store.retention:
            self.store.compact()
        return codes

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.tick()
            except Exception:  # a demo nicety must never take the service down
                log.exception("demo activity tick failed")
