"""``python -m app.gateway``: run the gateway until SIGTERM or SIGINT."""

from __future__ import annotations

import gc
import os
import signal
import sys

from . import loader
from .config import Config, ConfigError
from .log import Logger


async def serve(config: Config, logger: Logger) -> int:
    import asyncio

    from aiohttp import web

    from .server import Gateway, create_app

    gateway = Gateway(config, logger)
    runner = web.AppRunner(create_app(gateway), handler_cancellation=True, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, config.host, config.port, shutdown_timeout=0.2)
    try:
        await site.start()
    except OSError as exc:
        logger.error("listen_failed", host=config.host, port=config.port, error=exc.strerror)
        await runner.cleanup()
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    heartbeats = asyncio.ensure_future(gateway.heartbeats())
    logger.info(
        "listening",
        url=f"http://{config.host}:{config.port}",
        callback_url=config.callback_url,
        heartbeat_seconds=config.heartbeat_seconds,
    )
    await stop.wait()
    logger.info("shutting_down", open=len(gateway.streams))
    heartbeats.cancel()
    await gateway.close_all()
    await runner.cleanup()
    logger.info("stopped")
    return 0


def _tls(config: Config) -> bool:
    return (config.callback_url or "").lower().startswith("https:")


def main() -> int:
    gc.disable()  # start-up is mostly imports; collecting during them is wasted work
    try:
        config = Config.from_env(os.environ)
    except ConfigError as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 2
    loader.import_server(tls=_tls(config))
    gc.enable()
    import asyncio  # after the loader: it decides whether asyncio gets ssl

    return asyncio.run(serve(config, Logger(config.log_level)))


if __name__ == "__main__":
    sys.exit(main())
