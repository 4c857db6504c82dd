"""Who is asking and what they may read: the key's role per endpoint, a report's scope."""

from __future__ import annotations

from aiohttp import web

from schemas.api import Role
from schemas.report import ActorKind, Report
from services.api.auth import Caller, Forbidden, authenticate, presented_key
from services.api.context import CONTEXT
from services.api.middleware import NotFound
from services.domain.authorization import authorize
from services.domain.errors import NotAuthorized

READERS_OF_BILLING = frozenset({Role.DISTRIBUTOR, Role.OPERATIONS})
EVERY_ROLE = frozenset(Role)


async def caller(request: web.Request, allowed: frozenset[Role]) -> Caller:
    key = presented_key(request.headers.get("Authorization"), request.headers.get("X-API-Key"))
    found = await authenticate(request.app[CONTEXT].keys, key)
    if found.role not in allowed:
        if found.role is Role.PARTNER:
            raise Forbidden("partner keys read usage reports: use /v1/usage-reports")
        raise Forbidden(f"a {found.role.value} key may not call {request.path}")
    return found


_ACTOR_OF_ROLE = {Role.PARTNER: ActorKind.PARTNER, Role.DISTRIBUTOR: ActorKind.DISTRIBUTOR}


def check_scope(caller: Caller, report: Report) -> None:
    """Who may read a report is who may act on it: the domain's rule, one place."""
    actor = _ACTOR_OF_ROLE.get(caller.role)
    if actor is None:
        return
    try:
        authorize(report, actor, caller.account_id or "")
    except NotAuthorized as refused:
        raise Forbidden(f"report {report.id}: {refused.reason}") from refused


async def scoped_report(request: web.Request, caller: Caller, recent: int | None = None) -> Report:
    """The report the path names, if the caller may read it; its whole history, or its
    inline entries and moved ones before them up to ``recent`` (see ``read_report``)."""
    report_id = request.match_info["report_id"]
    report = await request.app[CONTEXT].store.read_report(report_id, recent)
    if report is None:
        raise NotFound(f"no report {report_id!r}")
    check_scope(caller, report)
    return report
