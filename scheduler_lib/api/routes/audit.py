"""GET /audit: the audit log (API.md section 12); entries are never written here."""

from __future__ import annotations

from ...services import audit
from .. import schemas
from ..routing import Call, Reply, Route
from .jobs import MAX_ID

_ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}


def list_entries(call: Call) -> Reply:
    rows, total = audit.list_entries(call.user, call.query)
    return Reply("List audit entries", [row.to_json() for row in rows], total=total)


ROUTES = [
    Route("GET", "/audit", list_entries,
          "Audit entries, newest first (superuser: all; others: their jobs' entries and "
          "their own actions)", tag="audit", paginated=True,
          query={"user_id": _ID, "fetch_id": _ID,
                 "action": {"type": "string", "minLength": 1, "maxLength": 64},
                 "since": {"type": "string", "format": "date-time",
                           "description": "Only entries at or after this time."}},
          data=schemas.list_of(schemas.AUDIT_ENTRY), errors=(400,),
          operation_id="listAuditEntries"),
]
