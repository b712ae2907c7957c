"""The asyncio event loop that Python monitors run on.

One daemon thread, started on first use. Monitors live on a loop the
package owns, not on the caller's, because the caller's thread is busy
running the guest (or, for asyncio hosts, must not be blocked by it).
"""

from __future__ import annotations

import asyncio
import threading

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None


def monitor_loop() -> asyncio.AbstractEventLoop:
    global _loop
    loop = _loop
    if loop is not None:
        return loop
    with _lock:
        if _loop is None:
            new_loop = asyncio.new_event_loop()
            ready = threading.Event()

            def run() -> None:
                asyncio.set_event_loop(new_loop)
                new_loop.call_soon(ready.set)
                new_loop.run_forever()

            threading.Thread(target=run, name="hyperlight-js-monitors", daemon=True).start()
            ready.wait()
            _loop = new_loop
        return _loop
