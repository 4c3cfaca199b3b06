"""The peer benches/station.rs measures Quartermaster against: the same pick
page (GET /pick/{order}) in the seed's own stack, FastAPI + Jinja2 with
asyncmy's connection pool, served by uvicorn.

Written as a competent FastAPI service would be, with nothing slowed on
purpose: one pool opened at start-up with autocommit on, the session checked
by one query (the same join and sliding expiry as Quartermaster's), the sheet
by one joined query, Jinja2's templates compiled once and autoescaped.

Run: QM_PEER_DATABASE_URL=mysql://user:pw@127.0.0.1:3306/db \
     uvicorn app:app --app-dir benches/peer --workers 2
"""

import hashlib
import os
import re
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from urllib.parse import unquote, urlparse

import asyncmy
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

HERE = os.path.dirname(os.path.abspath(__file__))
TEMPLATES = Environment(loader=FileSystemLoader(os.path.join(HERE, "templates")), autoescape=select_autoescape(["html"]))
PICK = TEMPLATES.get_template("pick.html")
TENANT_NAME = os.environ.get("QM_PEER_TENANT_NAME", "Bench Co")
SESSION_HOURS = 12
ROLES = {"admin": "Admin", "back_office": "Back office", "picker": "Picker"}

SESSION_SQL = """
SELECT o.id, o.display_name, o.role, s.csrf_token, s.last_seen_at < UTC_TIMESTAMP(6) - INTERVAL 1 MINUTE
FROM sessions s JOIN operators o ON o.id = s.operator_id
WHERE s.token_hash = %s AND s.expires_at > UTC_TIMESTAMP(6) AND NOT o.disabled
"""

SHEET_SQL = """
SELECT q.order_id, o.number, o.customer_name, CAST(q.status AS CHAR), q.operator_id, p.display_name,
       l.id, l.sku, l.name, l.quantity, l.picked_qty, pr.bin, COALESCE(pr.serial_tracked, FALSE),
       lot.id, lot.lot_ref, lot.location, r.quantity
FROM pick_queue q JOIN orders o ON o.id = q.order_id
LEFT JOIN operators p ON p.id = q.operator_id
LEFT JOIN order_lines l ON l.order_id = q.order_id AND NOT l.removed
LEFT JOIN products pr ON pr.id = l.product_id
LEFT JOIN stock_reservations r ON r.order_line_id = l.id AND r.status IN ('open', 'consumed')
LEFT JOIN inventory_lots lot ON lot.id = r.lot_id
WHERE q.order_id = %s
ORDER BY l.id, lot.received_at, lot.id
"""


def db_settings():
    url = urlparse(os.environ["QM_PEER_DATABASE_URL"])
    return dict(
        host=url.hostname or "127.0.0.1",
        port=url.port or 3306,
        user=unquote(url.username or "root"),
        password=unquote(url.password or ""),
        db=url.path.lstrip("/"),
    )


@asynccontextmanager
async def lifespan(app):
    app.state.pool = await asyncmy.create_pool(minsize=1, maxsize=16, autocommit=True, **db_settings())
    yield
    app.state.pool.close()
    await app.state.pool.wait_closed()


app = FastAPI(lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)

_BIN_PART = re.compile(r"(\D*)(\d*)")


def bin_key(location):
    """Walking order: A-2 before A-10; lines without a location last."""
    if not location or not location.strip():
        return (True, [])
    parts = [(text.upper(), int(num) if num else 0) for text, num in _BIN_PART.findall(location) if text or num]
    return (False, parts)


async def query(pool, sql, args):
    async with pool.acquire() as conn:
        async with conn.cursor() as cur:
            await cur.execute(sql, args)
            return await cur.fetchall()


async def session_of(request: Request):
    token = request.cookies.get("qm_session")
    if not token:
        return None
    digest = hashlib.sha256(token.encode()).digest()
    pool = request.app.state.pool
    rows = await query(pool, SESSION_SQL, (digest,))
    if not rows:
        return None
    operator_id, display_name, role, csrf, stale = rows[0]
    if stale:
        expires = datetime.now(timezone.utc).replace(tzinfo=None) + timedelta(hours=SESSION_HOURS)
        await query(pool, "UPDATE sessions SET last_seen_at = UTC_TIMESTAMP(6), expires_at = %s WHERE token_hash = %s", (expires, digest))
    return dict(id=operator_id, display_name=display_name, role=role, csrf=csrf)


@app.get("/pick/{order_id}", response_class=HTMLResponse)
async def pick_page(order_id: int, request: Request):
    session = await session_of(request)
    if session is None:
        return RedirectResponse(f"/sign-in?next=/pick/{order_id}", status_code=303)
    if session["role"] not in ("admin", "back_office", "picker"):
        return Response("forbidden", status_code=403)
    rows = await query(request.app.state.pool, SHEET_SQL, (order_id,))
    if not rows:
        return Response("not found", status_code=404)
    first = rows[0]
    head = dict(order_id=first[0], number=first[1], customer=first[2], status=first[3], operator_id=first[4], operator=first[5])
    lines = []
    last_lot = None
    for row in rows:
        line_id = row[6]
        if line_id is None:
            continue
        if not lines or lines[-1]["line_id"] != line_id:
            last_lot = None
            lines.append(
                dict(line_id=line_id, sku=row[7], name=row[8], quantity=row[9], picked=row[10], bin=row[11], serial_tracked=bool(row[12]), lots=[])
            )
        lot_id = row[13]
        if lot_id is None:
            continue
        takes = lines[-1]["lots"]
        if takes and last_lot == lot_id:
            takes[-1]["quantity"] += row[16]
        else:
            last_lot = lot_id
            takes.append(dict(lot_ref=row[14], location=row[15], quantity=row[16]))
    for line in lines:
        line["location"] = next((t["location"] for t in line["lots"] if t["location"]), None) or line["bin"]
    lines.sort(key=lambda l: (bin_key(l["location"]), l["line_id"]))
    html = PICK.render(
        base="",
        tenant_name=TENANT_NAME,
        operator=session["display_name"],
        role=ROLES.get(session["role"], session["role"]),
        csrf=session["csrf"],
        e=head,
        lines=lines,
        picked=sum(l["picked"] for l in lines),
        total=sum(l["quantity"] for l in lines),
        mine=head["operator_id"] == session["id"],
    )
    return HTMLResponse(html)
