"""The reference application the browser suite runs against.

Three processes: ``app.backend`` (Flask), ``app.gateway`` (aiohttp SSE
gateway) and ``app/frontend`` (Vite). Nothing here imports the harness.
"""
