"""The forecast over HTTP: ``GET /api/forecast`` (``?queue=`` for one queue)."""

from __future__ import annotations

import json

from aiohttp import web

from ivr.forecast.forecaster import Forecaster
from ivr.forecast.report import forecast_json

FORECASTER = web.AppKey("forecaster", Forecaster)


async def get_forecast(request: web.Request) -> web.Response:
    forecaster = request.app[FORECASTER]
    now = forecaster.clock()
    forecasts = await forecaster.forecast(now)
    wanted = request.query.get("queue")
    if wanted is not None:
        if wanted not in forecasts:
            raise web.HTTPNotFound(
                text=json.dumps({"error": f"no queue {wanted!r}"}), content_type="application/json"
            )
        forecasts = {wanted: forecasts[wanted]}
    return web.json_response(forecast_json(forecasts, now, forecaster.settings.timezone))


def add_forecast_routes(app: web.Application, forecaster: Forecaster) -> None:
    """ "Now" is the forecaster's clock (tests give it a fixed one)."""
    app[FORECASTER] = forecaster
    app.router.add_get("/api/forecast", get_forecast)
