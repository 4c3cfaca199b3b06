#!/usr/bin/env python3
"""A bounded, steady load through a tenant's edge, for the swarm tier.

    load.py BASE HOST COOKIE OUT STOPFILE

Until STOPFILE exists: the pick page of order QM_LOAD_PICK (/ops/pick/ID)
every 50 ms, a scan of QM_LOAD_SKU on it every 250 ms, each followed by the
page it redirects to, whose "N/M picked" must be the last count plus one
(the scan and the page re-read usually land on different replicas), the
storefront's REST index every 100 ms, a fresh sign-in every 16 s (its form
and its post are two of the edge's 10 a minute; each is an event on the log, so the stream has
events to deliver, and each crosses replicas: the form from one, the post
maybe to the other), with QM_LOAD_USER and QM_LOAD_PASSWORD, and one event-stream client on
/ops/events/stream that reconnects with Last-Event-ID whenever its stream
ends. Writes OUT (JSON): requests and failures per kind (a scan whose page
disagrees is a failure of its own kind), the scans answered 303, and the milliseconds of each pick page and storefront answer (a failure is a
connection error or a status other than the one expected, each with what
went wrong and when), every event id the stream delivered, and how often it
resumed. STOPFILE may hold an event id: the stream reads on until it has
had it (up to 30 s more). Standard library only.
"""
import http.client
import json
import os
import re
import sys
import threading
import time
import urllib.parse

base, host, cookie, out_path, stop_file = sys.argv[1:6]
url = urllib.parse.urlsplit(base)
stats = {"ops_page": [0, []], "storefront": [0, []], "sign_in": [0, []], "scan": [0, []], "scan_page": [0, []]}
scans = {"counted": 0}
latency = {}  # kind: each answer's milliseconds (the steady kinds)
pick_path = os.environ["QM_LOAD_PICK"]
PROGRESS = re.compile(r'id="progress">(\d+)/(\d+) picked')
events = {"ids": [], "resumes": 0, "errors": []}
lock = threading.Lock()


def stopped():
    return os.path.exists(stop_file)


def conn():
    return http.client.HTTPConnection(url.hostname, url.port, timeout=30)


def steady(kind, path, every, want):
    c = conn()
    while not stopped():
        t0 = time.monotonic()
        outcome = None
        try:
            c.request("GET", path, headers={"Host": host, "Cookie": cookie})
            r = c.getresponse()
            r.read()
            if r.status != want:
                outcome = f"status {r.status}"
        except Exception as e:  # noqa: BLE001 - every failure is counted and named
            outcome = f"{type(e).__name__}: {e}"
            c.close()
            c = conn()
        with lock:
            stats[kind][0] += 1
            if outcome:
                stats[kind][1].append({"at": time.time(), "what": outcome})
            latency.setdefault(kind, []).append(round((time.monotonic() - t0) * 1000, 2))
        time.sleep(max(0.0, every - (time.monotonic() - t0)))


def sign_ins(every=16.0):
    user, password = os.environ["QM_LOAD_USER"], os.environ["QM_LOAD_PASSWORD"]
    while not stopped():
        t0 = time.monotonic()
        outcome = None
        c = conn()
        try:
            c.request("GET", "/ops/sign-in", headers={"Host": host})
            r = c.getresponse()
            page = r.read().decode(errors="replace")
            jar = "; ".join(v.split(";", 1)[0] for k, v in r.getheaders() if k.lower() == "set-cookie")
            token = re.search(r'name="csrf" value="([^"]*)"', page)
            body = urllib.parse.urlencode({"csrf": token.group(1) if token else "", "username": user, "password": password, "next": "/ops/"})
            c.request("POST", "/ops/sign-in", body=body, headers={
                "Host": host, "Origin": f"http://{host}", "Cookie": jar, "Content-Type": "application/x-www-form-urlencoded"})
            r = c.getresponse()
            r.read()
            if r.status != 303:
                outcome = f"sign-in status {r.status}"
        except Exception as e:  # noqa: BLE001
            outcome = f"{type(e).__name__}: {e}"
        finally:
            c.close()
        with lock:
            stats["sign_in"][0] += 1
            if outcome:
                stats["sign_in"][1].append({"at": time.time(), "what": outcome})
        while not stopped() and time.monotonic() - t0 < every:
            time.sleep(0.1)


def note(kind, outcome):
    with lock:
        stats[kind][0] += 1
        if outcome:
            stats[kind][1].append({"at": time.time(), "what": outcome})


def picked(page):
    m = PROGRESS.search(page)
    return int(m.group(1)) if m else None


def scanner(every=0.25):
    """Scans one unit at a time; every answer must be the redirect, and the
    page it leads to must show exactly one more picked than the last."""
    sku = os.environ["QM_LOAD_SKU"]
    c = conn()
    c.request("GET", pick_path, headers={"Host": host, "Cookie": cookie})
    page = c.getresponse().read().decode(errors="replace")
    token = re.search(r'name="csrf" value="([^"]*)"', page)
    count = picked(page)
    if token is None or count is None:
        note("scan", "the pick page has no form or no progress")
        return
    body = urllib.parse.urlencode({"csrf": token.group(1), "code": sku, "count": ""})
    while not stopped():
        t0 = time.monotonic()
        outcome = None
        location = None
        try:
            c.request("POST", pick_path + "/scan", body=body, headers={
                "Host": host, "Cookie": cookie, "Origin": f"http://{host}", "Content-Type": "application/x-www-form-urlencoded"})
            r = c.getresponse()
            r.read()
            if r.status == 303:
                scans["counted"] += 1
                count += 1
                location = r.getheader("Location")
            else:
                outcome = f"status {r.status}"
        except Exception as e:  # noqa: BLE001 - a scan whose answer was lost is a failure
            outcome = f"{type(e).__name__}: {e}"
            c.close()
            c = conn()
        note("scan", outcome)
        if location:
            outcome = None
            try:
                c.request("GET", urllib.parse.urlsplit(location)._replace(scheme="", netloc="").geturl(), headers={"Host": host, "Cookie": cookie})
                r = c.getresponse()
                page = r.read().decode(errors="replace")
                seen = picked(page)
                if r.status != 200:
                    outcome = f"page status {r.status}"
                elif seen != count:
                    outcome = f"the page after scan {count} shows {seen} picked"
                    count = seen if seen is not None else count
            except Exception as e:  # noqa: BLE001
                outcome = f"{type(e).__name__}: {e}"
                c.close()
                c = conn()
            note("scan_page", outcome)
        time.sleep(max(0.0, every - (time.monotonic() - t0)))


def stream_done(last):
    if not stopped():
        return False
    try:
        want = int(open(stop_file).read().strip() or 0)
    except ValueError:
        want = 0
    return (last or 0) >= want or time.monotonic() > stop_deadline()


_deadline = []


def stop_deadline():
    if not _deadline:
        _deadline.append(time.monotonic() + 30)
    return _deadline[0]


def stream():
    last = None
    while not stream_done(last):
        c = conn()
        c.timeout = 40
        headers = {"Host": host, "Cookie": cookie, "Accept": "text/event-stream"}
        if last is not None:
            headers["Last-Event-ID"] = str(last)
        try:
            c.request("GET", "/ops/events/stream", headers=headers)
            r = c.getresponse()
            if r.status != 200:
                events["errors"].append({"at": time.time(), "what": f"status {r.status}"})
                time.sleep(0.5)
                continue
            if last is not None:
                events["resumes"] += 1
            fields = {}
            while not stream_done(last):
                line = r.readline()  # chunked framing decoded by http.client
                if not line:
                    break  # the replica went away: resume elsewhere
                line = line.decode().rstrip("\r\n")
                if line == "":  # an event ends: its fields come in any order
                    if fields.get("event") == "log" and fields.get("id", "").isdigit():
                        last = int(fields["id"])
                        events["ids"].append(last)
                    fields = {}
                elif ":" in line and not line.startswith(":"):
                    key, _, value = line.partition(":")
                    fields[key] = value.strip()
        except Exception as e:  # noqa: BLE001
            events["errors"].append({"at": time.time(), "what": f"{type(e).__name__}: {e}"})
        finally:
            c.close()


threads = [
    threading.Thread(target=steady, args=("ops_page", pick_path, 0.05, 200)),
    threading.Thread(target=scanner),
    threading.Thread(target=steady, args=("storefront", "/wp-json/", 0.1, 200)),
    threading.Thread(target=sign_ins),
    threading.Thread(target=stream, daemon=True),
]
for t in threads:
    t.start()
for t in threads[:4]:
    t.join()
threads[4].join(45)
result = {k: {"requests": v[0], "failures": v[1]} for k, v in stats.items()}
result["events"] = events
result["scans"] = scans
result["latency_ms"] = latency
# Whole or not at all: a reader never sees a half-written or overwritten file.
with open(out_path + ".part", "w") as f:
    json.dump(result, f)
os.replace(out_path + ".part", out_path)
