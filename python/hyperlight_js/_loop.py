"""The asyncio event loop that Python monitors and async host functions
run on.

One daemon thread, started on first use. Monitors live on a loop the
package owns, not on the caller's, because the caller's thread is busy
running the guest (or, for asyncio hosts, must not be blocked by it).
Async host functions run there too, unless the call was awaited with
``call_handler_async``: then on the awaiting loop (see
:func:`host_function_loop`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncio

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None


def monitor_loop() -> asyncio.AbstractEventLoop:
    global _loop
    loop = _loop
    if loop is not None:
        return loop
    with _lock:
        if _loop is None:
            import asyncio  # here, not at import: `import hyperlight_js` stays cheap (CLI start)

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


# The loop of the ``call_handler_async`` awaiting the call running on this
# thread, if any: async host functions run there, next to the rest of the
# caller's asyncio code, instead of on the package's loop.
_caller_loop: ContextVar[asyncio.AbstractEventLoop | None] = ContextVar("hyperlight_js_caller_loop", default=None)


def host_function_loop() -> asyncio.AbstractEventLoop:
    """The loop an async host function's awaitable is run on.

    The caller's loop only when the call was started by ``call_handler_async``
    on it: that loop is then free (it awaits the call in an executor), so the
    coroutine cannot deadlock it. A synchronous call may come from a
    coroutine that blocks its loop until the call returns, so it always uses
    the package's own loop.
    """
    loop = _caller_loop.get()
    if loop is not None and not loop.is_closed():
        return loop
    return monitor_loop()


@contextmanager
def awaited_from(loop: asyncio.AbstractEventLoop) -> Iterator[None]:
    """Marks the calls made on this thread, inside the block, as awaited
    from ``loop``."""
    token = _caller_loop.set(loop)
    try:
        yield
    finally:
        _caller_loop.reset(token)
