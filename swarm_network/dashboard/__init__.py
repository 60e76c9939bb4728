"""The dashboard every SN node serves at `/`: static files shipped in the package (no CDN, no
build step at run time) that read the REST API and follow `/v1/stream` (README, "Dashboard")."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

STATIC_DIR = Path(__file__).parent / "static"
#: The chart library, copied from its npm package (see static/vendor/VENDOR.md).
CHART_JS = ("chart.js", "4.5.1", "vendor/chart.umd.min.js")
CHART_JS_SHA256 = "48444a82d4edcb5bec0f1965faacdde18d9c17db3063d042abada2f705c9f54a"


async def index(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})


def dashboard_routes() -> list[web.AbstractRouteDef]:
    return [web.get("/", index), web.static("/dashboard", STATIC_DIR)]
