"""SSE gateway sidecar (aiohttp), a drop-in for the Node.js SSE Gateway's HTTP mode.

It owns each browser's event stream, asks the backend (``CALLBACK_URL``)
whether to accept it, and writes whatever the backend POSTs to
``/internal/send``. See ``shared/PROTOCOL.md`` section 1.
"""
