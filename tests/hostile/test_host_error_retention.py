"""A guest that catches host exceptions in a loop must not make the host
keep every one of them (each with its traceback and the locals of every
frame in it) until the call ends. Only the latest failure is kept: it is
the only one that can still become the ``__cause__`` of the GuestError."""

from __future__ import annotations

import gc

import psutil
import pytest

from hyperlight_js import GuestError, LoadedJSSandbox, SandboxBuilder

MiB = 1024 * 1024
CAUGHT = 100_000


class Refused(Exception):
    pass


def _rss() -> int:
    return psutil.Process().memory_info().rss


def _loaded(builder: SandboxBuilder, source: str, raised: list[Refused], rss: list[int] | None = None) -> LoadedJSSandbox:
    def refuse(n: int) -> None:
        # A local the traceback keeps alive, as real host code has.
        context = bytearray(1024)
        error = Refused(f"refused {n}: {len(context)}")
        if n < 0:
            raised.append(error)
        raise error

    proto = builder.with_guest_heap_size(16 * MiB).build()
    proto.register("host", "refuse", refuse)
    proto.register("host", "rss", lambda: (rss if rss is not None else []).append(_rss()))
    sandbox = proto.load_runtime()
    sandbox.add_handler("h", source)
    return sandbox.get_loaded_sandbox()


def test_caught_host_exceptions_do_not_pile_up_in_host_memory(builder: SandboxBuilder) -> None:
    source = """
        import { refuse, rss } from 'host';
        function handler(e) {
            let caught = 0;
            for (let i = 0; i < e.n; i++) { try { refuse(i) } catch (err) { caught++ } }
            rss();
            return caught;
        }
    """
    # Measured inside the call (by the guest's last host call): whatever is
    # kept is released when the call ends.
    rss: list[int] = []
    loaded = _loaded(builder, source, [], rss)
    loaded.call_handler("h", {"n": 1000})  # warm up: allocator pools, code paths
    gc.collect()
    before = _rss()
    assert loaded.call_handler("h", {"n": CAUGHT}) == CAUGHT
    grown = rss[-1] - before
    assert grown < 50 * MiB, f"host RSS grew by {grown / MiB:.0f} MiB for {CAUGHT} caught host exceptions"


def test_the_escaping_host_exception_is_the_cause_after_others_were_caught(builder: SandboxBuilder) -> None:
    raised: list[Refused] = []
    source = """
        import { refuse } from 'host';
        function handler(e) {
            for (let i = 0; i < 1000; i++) { try { refuse(i) } catch (err) {} }
            refuse(-1);
        }
    """
    loaded = _loaded(builder, source, raised)
    with pytest.raises(GuestError, match="refused -1") as failed:
        loaded.call_handler("h")
    assert failed.value.__cause__ is raised[-1]


def test_a_caught_exception_rethrown_after_a_later_host_failure_has_no_cause(builder: SandboxBuilder) -> None:
    # Only the latest host failure is kept. The guest caught the first, the
    # second replaced it, and the first is rethrown: it escapes with its
    # message, without its Python exception as __cause__.
    raised: list[Refused] = []
    source = """
        import { refuse } from 'host';
        function handler(e) {
            let first;
            try { refuse(-1) } catch (err) { first = err }
            try { refuse(-2) } catch (err) {}
            throw first;
        }
    """
    loaded = _loaded(builder, source, raised)
    with pytest.raises(GuestError, match="refused -1") as failed:
        loaded.call_handler("h")
    assert failed.value.__cause__ is None
    assert len(raised) == 2
