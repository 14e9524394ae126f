"""``python -m app.gateway``: run the gateway until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import ssl
import sys
from typing import Any

from .config import Config, ConfigError
from .log import Logger


def _import_aiohttp(*, needs_tls: bool) -> None:
    """Import aiohttp, skipping its import-time load of the system CA bundle unless needed.

    aiohttp builds two verified SSL contexts when imported, reading the CA
    bundle twice: about 0.1 s of CPU, a third of the gateway's start. The
    gateway's only client requests go to CALLBACK_URL, so the contexts are
    used only when that URL is https: then they load as usual.
    """
    if needs_tls:
        import aiohttp.web

        return
    real = ssl.SSLContext.set_default_verify_paths

    def skip(_context: Any) -> None:
        return None

    ssl.SSLContext.set_default_verify_paths = skip  # type: ignore[method-assign,assignment]
    try:
        import aiohttp.web  # noqa: F401
    finally:
        ssl.SSLContext.set_default_verify_paths = real  # type: ignore[method-assign]


async def serve(config: Config, logger: Logger) -> int:
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


def main() -> int:
    gc.disable()  # start-up is mostly imports; collecting during them is wasted work
    try:
        config = Config.from_env(os.environ)
    except ConfigError as exc:
        print(f"gateway: {exc}", file=sys.stderr)
        return 2
    _import_aiohttp(needs_tls=(config.callback_url or "").lower().startswith("https:"))
    gc.enable()
    return asyncio.run(serve(config, Logger(config.log_level)))


if __name__ == "__main__":
    sys.exit(main())
