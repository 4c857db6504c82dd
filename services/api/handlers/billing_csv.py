"""Billing reports as CSV: a list query streamed in cursor batches, one report's lines."""

from __future__ import annotations

import logging
from contextlib import aclosing

from aiohttp import web

from services.api import views
from services.api.access import READERS_OF_BILLING, caller, scoped_report
from services.api.answers import csv_headers
from services.api.csv_rows import csv_text, line_rows, list_row
from services.api.handlers.billing import list_request
from services.api.params import language
from services.domain.labels import LINE_COLUMNS, LIST_COLUMNS

log = logging.getLogger(__name__)

CSV_CHUNK_ROWS = 500


async def export_billing_reports(request: web.Request) -> web.StreamResponse:
    """Every report the query matches, as CSV, a cursor batch at a time."""
    asked = await list_request(request)
    lang = asked.lang
    response = web.StreamResponse(headers=csv_headers("billing-reports.csv", lang, asked.tz))
    await response.prepare(request)
    await response.write(csv_text([LIST_COLUMNS[lang]]).encode())
    rows: list[list[str]] = []
    reports = asked.ctx.store.stream_reports(
        asked.criteria, asked.query.sort, batch_size=CSV_CHUNK_ROWS
    )
    try:
        async with aclosing(reports):
            async for doc in reports:
                rows.append(list_row(views.billing_summary(doc, lang, asked.tz)))
                if len(rows) >= CSV_CHUNK_ROWS:
                    await response.write(csv_text(rows).encode())
                    rows = []
        if rows:
            await response.write(csv_text(rows).encode())
    except Exception:
        # The 200 and part of the body are sent: cut the connection so the client sees a
        # broken transfer (no final chunk) rather than a short file that looks whole.
        log.exception("CSV export failed after %d bytes", response.body_length)
        if request.transport is not None:
            request.transport.close()
        return response
    await response.write_eof()
    return response


async def export_billing_report(request: web.Request) -> web.Response:
    asking = await caller(request, READERS_OF_BILLING)
    lang = language(request)
    report = await scoped_report(request, asking, recent=0)  # its lines: no history
    text = csv_text([LINE_COLUMNS[lang], *line_rows(report, lang)])
    filename = report.id.replace(":", "_")
    return web.Response(body=text.encode(), headers=csv_headers(f"{filename}.csv", lang))
