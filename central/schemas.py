"""Request and response models of the HTTP API: validation and the OpenAPI document.

The dossier itself is not written again here: its OpenAPI schema is generated from the msgspec model
(``dossier.model.Dossier``) with ``msgspec.json.schema_components`` and added to the document's
components by ``add_model_schemas``, so the published schema and the validated model cannot drift.
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Annotated, Any

import msgspec
from fastapi import FastAPI
from pydantic import AfterValidator, BaseModel, Field

from central.ingest import DVCQG_SERVICES, FIRST_YEAR, LAST_YEAR, MAX_ROWS
from dossier.model import Dossier


def _storable(text: str) -> str:
    """Text that UTF-8 can carry (JSON may hold lone surrogates) and without NUL characters."""
    try:
        text.encode()
    except UnicodeEncodeError:
        raise ValueError("text holds characters that are not valid Unicode") from None
    if "\x00" in text:
        raise ValueError("text must not contain NUL characters")
    return text


def _in_window(value: datetime | None) -> datetime | None:
    """A time within the years 2000..2100, as the dossier model's (farther ones overflow conversions)."""
    if value is not None and not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(f"must be within the years {FIRST_YEAR} to {LAST_YEAR}")
    return value


Clean = Annotated[str, AfterValidator(_storable)]


class ErrorBody(BaseModel):
    """``{"code", "message"}`` inside ``{"error": ...}``."""

    code: str
    message: str


class ErrorOut(BaseModel):
    """Every non-2xx answer."""

    error: ErrorBody


Level = Annotated[
    int, Field(strict=True, ge=1, le=3, description="1 Rất hài lòng, 2 Hài lòng, 3 Chưa hài lòng")
]


class RatingIn(BaseModel):
    """A satisfaction rating (003 Art. 13)."""

    id: Annotated[Clean, Field(min_length=1, max_length=100)]
    agency_id: Annotated[Clean, Field(max_length=64)] = ""
    code: Annotated[Clean, Field(max_length=200)] = ""
    service: Level
    staff: Level
    rated_at: Annotated[datetime | None, AfterValidator(_in_window)] = None


class RatingOut(BaseModel):
    """A stored rating (the first stored version of its ``id``)."""

    id: str
    agency_id: str
    code: str
    service: int
    staff: int
    rated_at: str


class TokenIn(BaseModel):
    """Optional validity of a new enrollment token."""

    valid_hours: Annotated[float, Field(gt=0, le=24 * 90)] | None = None


class TokenOut(BaseModel):
    """A new single-use enrollment token (shown once)."""

    token: str
    expires_at: str


class RowNote(BaseModel):
    """A rejected row or a warning about an accepted one."""

    index: int
    reason: str


class ReportOut(BaseModel):
    """An ingestion report."""

    accepted: int
    unchanged: int
    rejected: list[RowNote]
    warnings: list[RowNote]


class PeriodOut(BaseModel):
    """A statistics period (``month`` absent for a whole year)."""

    year: int
    month: int | None = None


class FinishedOut(BaseModel):
    """Dossiers whose processing ended in the period."""

    early: int
    on_time: int
    late: int


class UnfinishedOut(BaseModel):
    """Dossiers still being processed at the end of the period."""

    in_time: int
    overdue: int


class LevelsOut(BaseModel):
    """Counts of each rating level."""

    one: int = Field(alias="1")
    two: int = Field(alias="2")
    three: int = Field(alias="3")


class RatingCountsOut(BaseModel):
    """Rating counts of both questions."""

    service: LevelsOut
    staff: LevelsOut


class StatsOut(BaseModel):
    """On-time statistics of an agency (Decision 766)."""

    agency_id: str
    period: PeriodOut
    as_of: str
    received: int
    new: int
    carried_over: int
    finished: FinishedOut
    unfinished: UnfinishedOut
    on_time_rate: float | None
    ratings: RatingCountsOut


class AgencyOut(BaseModel):
    """An agency with dossiers here."""

    agency_id: str
    agency_name: str
    dossiers: int


class AgenciesOut(BaseModel):
    """Every agency with dossiers here."""

    agencies: list[AgencyOut]


class HealthOut(BaseModel):
    """Liveness."""

    ok: bool
    dossiers: int
    time: str


ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": ErrorOut} for s in (400, 401, 404, 410, 413, 422, 500)
}


# --- schemas derived from the msgspec model ------------------------------------------------------------


class ChangesPage(msgspec.Struct, kw_only=True):
    """One page of the changes feed (for the schema only; the feed writes its pages directly)."""

    items: list[Dossier]
    cursor: str
    more: bool


_REF = "#/components/schemas/{name}"
(_dossier_ref, _changes_ref), MODEL_COMPONENTS = msgspec.json.schema_components(
    [Dossier, ChangesPage], ref_template=_REF
)


def _dossier_in() -> dict[str, Any]:
    """What ``/ingest/records`` takes per row: a dossier, ``version`` optional, clear owner secrets."""
    schema = copy.deepcopy(MODEL_COMPONENTS["Dossier"])
    schema["title"] = "DossierIn"
    schema["required"] = [r for r in schema["required"] if r != "version"]
    schema["properties"]["owner_phone"] = {"type": "string", "maxLength": 40}
    schema["properties"]["owner_id"] = {"type": "string", "maxLength": 40}
    return schema


INPUT_COMPONENTS: dict[str, Any] = {
    "DossierIn": _dossier_in(),
    "PortalPayload": {
        "title": "PortalPayload",
        "type": "object",
        "required": ["service", "data"],
        "properties": {
            "service": {"enum": list(DVCQG_SERVICES)},
            "madonvi": {"type": "string"},
            "data": {"type": "array", "maxItems": MAX_ROWS, "items": {"type": "object"}},
        },
    },
}


def json_content(schema: dict[str, Any]) -> dict[str, Any]:
    """An OpenAPI ``content`` object for JSON with ``schema``."""
    return {"application/json": {"schema": schema}}


DOSSIER_RESPONSE = {"description": "the dossier", "content": json_content(_dossier_ref)}
CHANGES_RESPONSE = {"description": "one page of changes", "content": json_content(_changes_ref)}
RECORDS_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            **json_content(
                {"type": "array", "maxItems": MAX_ROWS, "items": {"$ref": _REF.format(name="DossierIn")}}
            ),
            "text/csv": {"schema": {"type": "string"}},
        },
    }
}
PORTAL_BODY = {
    "requestBody": {"required": True, "content": json_content({"$ref": _REF.format(name="PortalPayload")})}
}


def add_model_schemas(app: FastAPI) -> None:
    """Publish the msgspec-derived components in the app's OpenAPI document."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        doc = generate()
        schemas = doc.setdefault("components", {}).setdefault("schemas", {})
        for name, schema in {**MODEL_COMPONENTS, **INPUT_COMPONENTS}.items():
            schemas.setdefault(name, schema)
        return doc

    app.openapi = openapi  # type: ignore[method-assign]
