"""Taking data the ways provinces already produce it: national-portal sync payloads, JSON and CSV exports.

Each source is validated row by row; good rows are written in one transaction per call and the report
names every rejected row: ``{"accepted": n, "rejected": [{"index", "reason"}], "warnings": [...]}``.
A bad row never aborts the others: a number that does not fit SQLite, a time outside the years
2000..2100, a field of the wrong type, a CSV field over the csv module's limit are each that row's
reason. Only a payload wrong as a whole (not JSON, nested deeper than ``MAX_DEPTH``, unknown ``service``
or CSV column) is refused as a whole. Owner phone numbers and ID numbers are hashed on the way in
(``secret_hash``); clear values are never stored.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec
from msgspec.structs import replace

from central.store import CentralStore, Writer
from dossier.codes import CodeParser
from dossier.errors import InvalidCode, InvalidInput, InvalidRecord
from dossier.model import (
    VN_TZ,
    Dossier,
    HistoryStep,
    Status,
    normalise_phone,
    parse_portal_time,
    parse_time,
    secret_hash,
    secret_matches,
)

log = logging.getLogger(__name__)

MAX_ROWS = 50_000
FIRST_YEAR, LAST_YEAR = 2000, 2100  # as the dossier model's window, named after the portal's field here
MAX_DEPTH = 32  # JSON nesting: portal payloads need 4
MAX_REPORT_LINES = 50  # rows listed by ``Report.to_text``; the JSON report lists them all
CSV_COLUMNS = (
    "code",
    "status",
    "agency_id",
    "agency_name",
    "procedure_code",
    "procedure_name",
    "applicant_name",
    "organisation",
    "submitted_at",
    "received_at",
    "due_at",
    "finished_at",
    "returned_at",
    "handling_agency",
    "handling_department",
    "handling_officer",
    "note",
    "owner_phone",
    "owner_id",
)
CSV_REQUIRED = ("code", "status")
DVCQG_SERVICES = ("DongBoHoSoMC", "CapNhatTienDoHoSoMC")


class Report:
    """Accepted count, rejected rows and warnings of one ingestion."""

    def __init__(self) -> None:
        self.accepted = 0
        self.unchanged = 0
        self.rejected: list[dict[str, Any]] = []
        self.warnings: list[dict[str, Any]] = []

    def reject(self, index: int, reason: str) -> None:
        """Record a rejected row."""
        self.rejected.append({"index": index, "reason": reason})

    def warn(self, index: int, reason: str) -> None:
        """Record an accepted row with a dropped field."""
        self.warnings.append({"index": index, "reason": reason})

    def to_json(self) -> dict[str, Any]:
        """The contract's report object (plus ``unchanged`` and ``warnings``)."""
        return {
            "accepted": self.accepted,
            "unchanged": self.unchanged,
            "rejected": self.rejected,
            "warnings": self.warnings,
        }

    def to_text(self) -> str:
        """The report for people: counts, then each rejected row and warning on its own line."""
        lines = [
            f"accepted: {self.accepted} rows ({self.unchanged} unchanged), rejected: {len(self.rejected)},"
            f" warnings: {len(self.warnings)}"
        ]
        for title, notes in (("rejected", self.rejected), ("warnings", self.warnings)):
            if notes:
                lines.append(f"{title} (row index from 0, in file order):")
                lines += [f"  row {n['index']}: {n['reason']}" for n in notes[:MAX_REPORT_LINES]]
                if len(notes) > MAX_REPORT_LINES:
                    lines.append(f"  … and {len(notes) - MAX_REPORT_LINES} more")
        return "\n".join(lines)


class Ingestor:
    """Validates records and writes them to a ``CentralStore``."""

    def __init__(self, store: CentralStore, codes: CodeParser | None = None) -> None:
        self.store = store
        self.codes = codes or CodeParser()

    # --- entry points -------------------------------------------------------------------------------

    def dvcqg(self, payload: Any, now: datetime) -> Report:
        """A national-portal payload ``{"service": DongBoHoSoMC | CapNhatTienDoHoSoMC, "data": [...]}``."""
        if not isinstance(payload, dict):
            raise InvalidInput("payload must be a JSON object with service and data")
        service = payload.get("service")
        if service not in DVCQG_SERVICES:
            raise InvalidInput(
                f"service must be one of {', '.join(DVCQG_SERVICES)}, not {str(service)[:40]!r}"
            )
        data = payload.get("data")
        if not isinstance(data, list):
            raise InvalidInput("data must be a list of records")
        unit = payload.get("madonvi")
        unit = unit if isinstance(unit, str) else ""
        if service == "DongBoHoSoMC":
            return self._run(data, now, lambda w, rec, i, rep: self._portal_dossier(w, rec, i, rep, unit))
        return self._run(data, now, self._portal_step)

    def records(self, items: Any, now: datetime) -> Report:
        """A JSON list of contract dossier objects (``version`` optional; clear ``owner_phone``/``owner_id`` are hashed)."""
        if not isinstance(items, list):
            raise InvalidInput("records must be a JSON list of dossier objects")
        return self._run(items, now, self._record)

    def csv_text(self, text: str, now: datetime) -> Report:
        """CSV with a header row naming columns from ``CSV_COLUMNS`` (``code`` and ``status`` required)."""
        reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
        try:
            header = [h.strip() for h in next(reader, [])]
        except csv.Error as err:
            raise InvalidInput(f"CSV header line cannot be read: {err}") from None
        unknown = [h for h in header if h not in CSV_COLUMNS]
        if unknown:
            raise InvalidInput(
                f"unknown CSV column {unknown[0]!r}", hint=f"columns are: {', '.join(CSV_COLUMNS)}"
            )
        missing = [c for c in CSV_REQUIRED if c not in header]
        if missing:
            raise InvalidInput(f"CSV header lacks the column {missing[0]!r}")
        rows: list[Any] = []
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                break
            except csv.Error as err:  # the reader goes on with the next line
                rows.append(_CsvProblem(f"line {reader.line_num}: {err}"))
                continue
            if not fields:
                continue  # blank line
            row: dict[str, Any] = dict(zip(header, fields, strict=False))
            if len(fields) > len(header):
                row["__extra__"] = True
            rows.append(row)
        return self._run(rows, now, self._csv_row)

    # --- row handlers -------------------------------------------------------------------------------

    def _run(
        self, rows: list[Any], now: datetime, handle: Callable[[Writer, Any, int, Report], Dossier]
    ) -> Report:
        if len(rows) > MAX_ROWS:
            raise InvalidInput(f"too many rows ({len(rows)}); send at most {MAX_ROWS} per request")
        report = Report()
        with self.store.writer(now) as w:
            for i, row in enumerate(rows):
                try:
                    d = handle(w, row, i, report)
                    changed = w.put(d)
                except (InvalidRecord, InvalidInput) as err:
                    report.reject(i, str(err))
                    continue
                except (ValueError, OverflowError) as err:  # a model check (__post_init__) or a conversion
                    report.reject(i, _reason(err))
                    continue
                report.accepted += 1
                report.unchanged += not changed
        log.info("ingested %d rows (%d rejected)", report.accepted, len(report.rejected))
        return report

    def _code(self, raw: Any, name: str) -> str:
        if not isinstance(raw, str) or not raw.strip():
            raise InvalidRecord(f"{name} is required")
        try:
            return self.codes.parse(raw).value
        except InvalidCode as err:
            raise InvalidRecord(f"{name} {raw[:40]!r}: {err.reason}") from None

    def _agency(self, code: str, given: str, name: str) -> str:
        agency = self.codes.parse(code).agency or given
        if not agency:
            raise InvalidRecord(f"{name} is required when the code is not in the national format")
        return agency

    def _record(self, w: Writer, rec: Any, i: int, report: Report) -> Dossier:
        if not isinstance(rec, dict):
            raise InvalidRecord(f"record must be an object, not {type(rec).__name__}")
        rec = dict(rec)
        rec.setdefault("version", 0)
        phone, id_number = rec.pop("owner_phone", None), rec.pop("owner_id", None)
        _vn_times(rec, "")
        if isinstance(rec.get("history"), list):
            for j, step in enumerate(rec["history"]):
                if isinstance(step, dict):
                    rec["history"][j] = step = dict(step)
                    _vn_times(step, f"history[{j}].")
        d = Dossier.from_json(rec)
        code = self._code(d.code, "code")
        d = replace(d, code=code, agency_id=self._agency(code, d.agency_id, "agency_id"))
        return self._with_secrets(w, d, phone, id_number, i, report)

    def _csv_row(self, w: Writer, row: Any, i: int, report: Report) -> Dossier:
        if isinstance(row, _CsvProblem):
            raise InvalidRecord(row.reason)
        if row.pop("__extra__", False):
            raise InvalidRecord("row has more fields than the header")
        values = {k: (v or "").strip() for k, v in row.items()}
        status_text = values.get("status", "")
        if not _ascii_digits(status_text) or len(status_text) > 2:
            raise InvalidRecord(f"status {status_text[:20]!r} is not a state code 1–10")
        rec: dict[str, Any] = {
            k: v for k, v in values.items() if k not in ("status", "owner_phone", "owner_id")
        }
        for key in ("submitted_at", "received_at", "due_at", "finished_at", "returned_at"):
            rec[key] = _flex_time(rec.get(key, ""), key)
        rec["status"] = int(status_text)
        rec["version"] = 0
        d = Dossier.from_json(rec)
        code = self._code(d.code, "code")
        d = replace(d, code=code, agency_id=self._agency(code, d.agency_id, "agency_id"))
        return self._with_secrets(w, d, values.get("owner_phone"), values.get("owner_id"), i, report)

    def _with_secrets(
        self, w: Writer, d: Dossier, phone: Any, id_number: Any, i: int, report: Report
    ) -> Dossier:
        """Hash clear phone / ID digits; keep the stored hash (and its salt) when the secret is the same."""
        old = w.get(d.code)
        phone_hash = d.owner_phone_hash or (old.owner_phone_hash if old else "")
        id4_hash = d.owner_id4_hash or (old.owner_id4_hash if old else "")
        if phone:
            try:
                number = normalise_phone(str(phone))
                phone_hash = phone_hash if secret_matches(phone_hash, number) else secret_hash(number)
            except InvalidRecord:
                report.warn(i, "owner phone is not a Vietnamese phone number; not stored")
        if id_number:
            digits = "".join(c for c in str(id_number) if c in "0123456789")
            if len(digits) >= 4:
                id4_hash = id4_hash if secret_matches(id4_hash, digits[-4:]) else secret_hash(digits[-4:])
            else:
                report.warn(i, "owner ID number has fewer than 4 digits; not stored")
        return replace(d, owner_phone_hash=phone_hash, owner_id4_hash=id4_hash)

    def _portal_dossier(self, w: Writer, rec: Any, i: int, report: Report, unit: str) -> Dossier:
        if not isinstance(rec, dict):
            raise InvalidRecord(f"record must be an object, not {type(rec).__name__}")
        p = _Portal(rec)
        code = self._code(rec.get("MaHoSo"), "MaHoSo")
        agency = self._agency(code, p.text("MaDonVi") or unit, "MaDonVi (or madonvi)")
        status_raw = rec.get("TrangThaiHoSo")
        status_text = str(status_raw).strip() if isinstance(status_raw, (str, int)) else ""
        if isinstance(status_raw, bool) or not _ascii_digits(status_text) or len(status_text) > 2:
            raise InvalidRecord(f"TrangThaiHoSo {str(status_raw)[:20]!r} is not a state code 1–10")
        try:
            status = Status(int(status_text))
        except ValueError:
            raise InvalidRecord(f"TrangThaiHoSo {status_text!r} is not a state code 1–10") from None
        old = w.get(code)
        owner = p.text("ChuHoSo")
        is_org = p.text("LoaiDoiTuong") in ("2", "3", "4")
        history = list(old.history) if old else []
        supplements = rec.get("DanhSachHoSoBoSung")
        if supplements is not None and not isinstance(supplements, list):
            raise InvalidRecord(f"DanhSachHoSoBoSung must be a list, not {_kind(supplements)}")
        for j, sup in enumerate(supplements or []):
            if not isinstance(sup, dict):
                raise InvalidRecord(f"DanhSachHoSoBoSung[{j}] must be an object, not {_kind(sup)}")
            history.append(_supplement_step(_Portal(sup, f"DanhSachHoSoBoSung[{j}]."), j))
        handling_agency = p.text("DonViXuLy")
        d = Dossier(
            code=code,
            version=0,
            status=status,
            agency_id=agency,
            agency_name=p.text("TenDonVi") or (old.agency_name if old else "") or handling_agency,
            procedure_code=p.text("MaTTHC"),
            procedure_name=p.text("TenTTHC"),
            applicant_name=(p.text("HoTenNguoiNop") if is_org else owner),
            organisation=owner if is_org else "",
            submitted_at=p.time("NgayNopHoSo"),
            received_at=p.time("NgayTiepNhan"),
            due_at=p.time("NgayHenTra"),
            finished_at=p.time("NgayKetThucXuLy"),
            returned_at=p.time("NgayTra"),
            handling_agency=handling_agency,
            handling_department=old.handling_department if old else "",
            handling_officer=old.handling_officer if old else "",
            note=p.text("GhiChu"),
            updated_at=None,
            history=_merge_steps(history),
            owner_phone_hash=old.owner_phone_hash if old else "",
            owner_id4_hash=old.owner_id4_hash if old else "",
        )
        return self._with_secrets(w, d, rec.get("SoDienThoai"), rec.get("SoGiayToChuHoSo"), i, report)

    def _portal_step(self, w: Writer, rec: Any, i: int, report: Report) -> Dossier:
        if not isinstance(rec, dict):
            raise InvalidRecord(f"record must be an object, not {type(rec).__name__}")
        p = _Portal(rec)
        code = self._code(rec.get("MaHoSo"), "MaHoSo")
        at = p.time("ThoiDiemXuLy")
        if at is None:
            raise InvalidRecord("ThoiDiemXuLy is required")
        old = w.get(code)
        if old is None:
            raise InvalidRecord(f"no dossier {code} yet; send its DongBoHoSoMC record first")
        step = HistoryStep(
            at=at,
            action=p.text("NoiDungXuLy"),
            officer=p.text("NguoiXuLy"),
            title=p.text("ChucDanh"),
            department=p.text("PhongBanXuLy"),
            state=p.text("TrangThai"),
            started_at=p.time("NgayBatDau"),
            deadline_at=p.time("NgayKetThucTheoQuyDinh"),
        )
        history = _merge_steps([*old.history, step])
        newest = history[-1]
        return replace(
            old,
            history=history,
            handling_department=newest.department or old.handling_department,
            handling_officer=newest.officer or old.handling_officer,
            updated_at=None,
        )


class _Portal:
    """Typed access to a portal record: strings (numbers accepted) and ``yyyyMMddHHmmss`` times."""

    def __init__(self, rec: dict[str, Any], prefix: str = "") -> None:
        self.rec = rec
        self.prefix = prefix

    def text(self, key: str) -> str:
        """The field as stripped text (numbers accepted), at most 2000 characters."""
        value = self.rec.get(key)
        if value is None:
            return ""
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise InvalidRecord(f"{self.prefix}{key} must be text")
        text = str(value).strip()
        if len(text) > 2000:
            raise InvalidRecord(f"{self.prefix}{key} is longer than 2000 characters")
        return text

    def time(self, key: str) -> datetime | None:
        """The field as a ``yyyyMMddHHmmss`` time (Vietnam time) within the years 2000..2100, or None."""
        text = self.text(key)
        if not text:
            return None
        value = parse_portal_time(text, self.prefix + key)
        if not FIRST_YEAR <= value.year <= LAST_YEAR:
            raise InvalidRecord(f"{self.prefix}{key}: {text[:20]!r} is outside the years 2000 to 2100")
        return value


def _supplement_step(p: _Portal, j: int) -> HistoryStep:
    at = p.time("NgayBoSung") or p.time("NgayTiepNhanBoSung") or p.time("NgayHenTraTruoc")
    if at is None:
        raise InvalidRecord(f"DanhSachHoSoBoSung[{j}] needs NgayBoSung")
    content = p.text("NoiDungBoSung")
    return HistoryStep(
        at=at,
        action="Yêu cầu bổ sung hồ sơ" + (f": {content}" if content else ""),
        officer=p.text("NguoiYeuCauBoSung"),
        state=str(int(Status.SUPPLEMENT_REQUESTED)),
        started_at=p.time("NgayHenTraTruoc"),
        deadline_at=p.time("NgayHenTraMoi"),
    )


def _merge_steps(steps: Iterable[HistoryStep]) -> tuple[HistoryStep, ...]:
    """Steps in time order without exact duplicates (re-sent steps are idempotent)."""
    unique = {(s.at, s.action, s.officer, s.department): s for s in steps}
    return tuple(sorted(unique.values(), key=lambda s: s.at))


_TIME_KEYS = ("submitted_at", "received_at", "due_at", "finished_at", "returned_at", "updated_at", "at",
              "started_at", "deadline_at")  # fmt: skip


def _vn_times(rec: dict[str, Any], prefix: str) -> None:
    """Give ISO times without an offset Vietnam time, in place (exports often omit the offset)."""
    for key in _TIME_KEYS:
        value = rec.get(key)
        if isinstance(value, str) and value:
            rec[key] = parse_time(value, prefix + key).isoformat()


def _flex_time(text: str, name: str) -> str | None:
    """CSV time: ISO 8601, ``yyyyMMddHHmmss`` or ``dd/mm/yyyy[ HH:MM]`` (Vietnam time) → ISO text."""
    text = text.strip()
    if not text:
        return None
    if _ascii_digits(text):
        return parse_portal_time(text, name).isoformat()
    if "/" in text:
        for fmt in ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y"):
            try:
                return datetime.strptime(text, fmt).replace(tzinfo=VN_TZ).isoformat()
            except ValueError:
                continue
        raise InvalidRecord(f"{name}: {text[:40]!r} is not a dd/mm/yyyy [HH:MM] time")
    return parse_time(text, name).isoformat()


def parse_json(raw: bytes | str, what: str = "body") -> Any:
    """Parse JSON, refusing (``InvalidInput``) text that is not JSON or is nested deeper than ``MAX_DEPTH``."""
    try:
        data = msgspec.json.decode(raw)
    except RecursionError:
        raise InvalidInput(f"{what} is nested deeper than {MAX_DEPTH} levels") from None
    except (msgspec.DecodeError, msgspec.ValidationError) as err:
        raise InvalidInput(f"{what} is not valid JSON: {err}") from None
    if _depth_over(data, MAX_DEPTH):
        raise InvalidInput(f"{what} is nested deeper than {MAX_DEPTH} levels")
    return data


def _depth_over(value: Any, limit: int) -> bool:
    """Whether parsed JSON nests deeper than ``limit`` (breadth first: no recursion, stops early)."""
    level, depth = [value], 0
    while level:
        depth += 1
        if depth > limit:
            return True
        nested: list[Any] = []
        for v in level:
            if type(v) is dict:
                nested.extend(x for x in v.values() if type(x) in (dict, list))
            elif type(v) is list:
                nested.extend(x for x in v if type(x) in (dict, list))
        level = nested
    return False


def load_file(ingestor: Ingestor, text: str, now: datetime) -> Report:
    """Ingest a file's text: a portal payload (object with ``service``), a JSON list, or CSV."""
    stripped = text.lstrip("\ufeff \t\r\n")
    if stripped[:1] in ("{", "["):
        data = parse_json(stripped.encode("utf-8", "surrogatepass"), "file")
        if isinstance(data, dict):
            return ingestor.dvcqg(data, now)
        return ingestor.records(data, now)
    return ingestor.csv_text(text, now)


def ingest_file(ingestor: Ingestor, path: str | Path, now: datetime) -> Report:
    """Read and ingest a UTF-8 file (``motcua central ingest``); unreadable files are ``InvalidInput``."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput(f"file {p} does not exist") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"file {p} is not UTF-8 text") from None
    except OSError as err:
        raise InvalidInput(f"cannot read {p}: {err.strerror or err}") from None
    report = load_file(ingestor, text, now)
    if ingestor.store.log_size() > ingestor.store.retention:
        ingestor.store.compact()
    return report


class _CsvProblem:
    """A CSV line the csv module could not split (kept in place so that row indexes stay right)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


def _ascii_digits(text: str) -> bool:
    """``0-9`` only (``str.isdigit`` also accepts ``²`` and other scripts' digits, which ``int`` rejects or reads)."""
    return text.isascii() and text.isdecimal()


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "text", bool: "true/false", type(None): "null"}.get(
        type(value), "a number"
    )


def _reason(err: Exception) -> str:
    """One line for a rejected row from a model or conversion error."""
    text = " ".join(str(err).split()) or type(err).__name__
    return text[:300]
