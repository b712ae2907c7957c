"""RayPool on a Ray cluster (docs/ray.md): map over the actors, a typed
error from an actor, and a worker process lost mid-call and replaced.

    python examples/ray_cluster.py            # starts a local Ray instance
    RAY_ADDRESS=auto python examples/ray_cluster.py   # an existing cluster
"""

from __future__ import annotations

import os

import ray

from hyperlight_js import ExecutionCancelled, LoadedJSSandbox, SandboxBuilder, WorkerLostError
from hyperlight_js.ray import RayPool


def crash(code: int) -> None:
    os._exit(code)  # a host function that takes the worker process down


# Runs in the actors: Ray ships it with cloudpickle.
def factory() -> LoadedJSSandbox:
    proto = SandboxBuilder().with_host_print_fn(None).build()
    proto.register("host", "crash", crash)
    sandbox = proto.load_runtime()
    sandbox.add_handler("square", "function handler(e) { return e * e }")
    sandbox.add_handler("spin", "function handler() { while (true) {} }")
    sandbox.add_handler("crash", 'import * as host from "host"; function handler() { host.crash(1) }')
    return sandbox.get_loaded_sandbox()


def main() -> None:
    ray.init(num_cpus=None if os.environ.get("RAY_ADDRESS") else 2, log_to_driver=False)
    with RayPool(factory, actors=2, actor_options={"num_cpus": 1}, checkout_timeout=60) as pool:
        print("map:", pool.map("square", range(10), wall_clock_timeout=1))
        try:
            pool.call("spin", {}, cpu_timeout=0.1)
        except ExecutionCancelled as exc:
            print("ended in the actor by", exc.monitor)
        try:
            pool.call("crash", {})
        except WorkerLostError as exc:
            print(f"actor {exc.actor} lost its worker; it is being replaced")
        print("still serving:", pool.map("square", range(4)))
        stats = pool.stats()
        print({key: stats[key] for key in ("actors", "reachable", "calls", "terminations", "workers_lost")})
    ray.shutdown()


if __name__ == "__main__":
    main()
