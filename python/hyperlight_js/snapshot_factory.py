"""``SnapshotFactory``: a sandbox factory that loads a saved snapshot
instead of registering, adding and loading handlers.

Host functions are code and are not in the file; ``prepare(proto)``
registers them (the same module and function names as when the snapshot
was taken). A pool or a worker can then start from the file:

    pool = SandboxPool(SnapshotFactory("warm.snap", prepare=register_kv), size=4)
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from . import _native
from .sandbox import LoadedJSSandbox, ProtoJSSandbox, SandboxBuilder, _print_line

__all__ = ["SnapshotFactory"]


class SnapshotFactory:
    """A zero-argument callable returning a :class:`LoadedJSSandbox` in the
    state of ``snapshot`` (a path to a file :meth:`Snapshot.save` wrote, or
    a :class:`Snapshot`), built for the snapshot's backend and sizes, with
    ``print_fn`` as its output sink and the host functions ``prepare``
    registers. A path is read and checked once, here.

    Picklable (for ``RayPool``) when made from a path: each worker reads the
    file itself, so the path must exist there too."""

    def __init__(
        self,
        snapshot: str | os.PathLike[str] | _native.Snapshot,
        prepare: Callable[[ProtoJSSandbox], object] | None = None,
        *,
        print_fn: Callable[[str], object] | None = _print_line,
    ) -> None:
        if prepare is not None and not callable(prepare):
            raise TypeError("prepare must be callable or None")
        if isinstance(snapshot, _native.Snapshot):
            self._path: str | None = None
            self._snapshot = snapshot
        else:
            self._path = os.fspath(snapshot)
            self._snapshot = _native.Snapshot.load(self._path)
        self._prepare = prepare
        self._print_fn = print_fn

    @property
    def snapshot(self) -> _native.Snapshot:
        return self._snapshot

    def __call__(self) -> LoadedJSSandbox:
        snapshot = self._snapshot
        builder = (
            SandboxBuilder()
            .with_backend(snapshot.backend)
            .with_guest_heap_size(snapshot.heap_size)
            .with_guest_scratch_size(snapshot.scratch_size)
            .with_host_print_fn(self._print_fn)
        )
        proto = builder.build()
        if self._prepare is not None:
            self._prepare(proto)
        return proto.load_snapshot(snapshot)

    def __reduce__(self) -> tuple[Any, ...]:
        if self._path is None:
            raise TypeError("a SnapshotFactory made from a Snapshot object cannot be pickled; make it from a path")
        return (_rebuild, (self._path, self._prepare, self._print_fn))

    def __repr__(self) -> str:
        origin = self._path if self._path is not None else "<Snapshot>"
        return f"<SnapshotFactory {origin!r} {self._snapshot.backend}>"


def _rebuild(
    path: str, prepare: Callable[[ProtoJSSandbox], object] | None, print_fn: Callable[[str], object] | None
) -> SnapshotFactory:
    return SnapshotFactory(path, prepare, print_fn=print_fn)
