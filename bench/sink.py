"""A webhook receiver in its own process for the delivery benchmarks: answers 204 and reports
arrival times on `GET /times` (epoch seconds, per `job_id|to_status`, else per webhook-id)."""

from __future__ import annotations

import json
import sys
import time

from aiohttp import web

arrivals: dict[str, float] = {}


async def receive(request: web.Request) -> web.Response:
    body = await request.read()
    now = time.time()
    key = request.headers.get("webhook-id", "")
    if b'"job_id"' in body[:4096]:
        data = json.loads(body).get("data", {})
        key = f"{data.get('job_id')}|{data.get('to_status')}"
    arrivals.setdefault(key, now)
    return web.Response(status=204)


async def times(_: web.Request) -> web.Response:
    return web.json_response(arrivals)


def main(port: int) -> None:
    app = web.Application()
    app.router.add_post("/", receive)
    app.router.add_get("/times", times)
    print("ready", flush=True)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


if __name__ == "__main__":
    main(int(sys.argv[1]))
