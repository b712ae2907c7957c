"""A pool of warm sandboxes serving several tenants from threads and asyncio
(docs/serving-many-tenants.md): one tenant's state never reaches another,
a runaway handler is ended and its sandbox healed, a full pool says so."""

from __future__ import annotations

import asyncio
import threading

from hyperlight_js import ExecutionCancelled, LoadedJSSandbox, PoolExhaustedError, SandboxBuilder, SandboxPool

PRICES = {"A1": 12.5, "B2": 3.0}

# Remembers the tenant's last order in a global: state a tenant leaves in its sandbox.
ORDER = """
import * as shop from "shop";
function handler(e) {
    const before = globalThis.lastOrder ?? null;
    globalThis.lastOrder = e;
    return { total: shop.price(e.sku) * e.quantity, before };
}
"""


def factory() -> LoadedJSSandbox:
    proto = SandboxBuilder().with_host_print_fn(None).build()
    proto.register("shop", "price", lambda sku: PRICES[sku])
    sandbox = proto.load_runtime()
    sandbox.add_handler("order", ORDER)
    sandbox.add_handler("spin", "function handler() { while (true) {} }")
    return sandbox.get_loaded_sandbox()


def main() -> None:
    with SandboxPool(factory, size=2, max_size=4, checkout_timeout=1.0, name="shop") as pool:
        print("acme:", pool.call("order", {"sku": "A1", "quantity": 2}, tenant="acme"))
        print("acme again (same tenant, sees its own order):", pool.call("order", {"sku": "B2", "quantity": 1}, tenant="acme"))
        print("globex (never sees acme's):", pool.call("order", {"sku": "B2", "quantity": 5}, tenant="globex"))

        try:
            pool.call("spin", {}, tenant="acme", wall_clock_timeout=1, cpu_timeout=0.1)
        except ExecutionCancelled as exc:
            print(f"runaway handler ended by {exc.monitor}; its sandbox was restored")

        def customer(n: int) -> None:
            pool.call("order", {"sku": "A1", "quantity": n}, tenant=f"t{n % 3}", wall_clock_timeout=1)

        threads = [threading.Thread(target=customer, args=(n,)) for n in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        async def asyncio_host() -> list[object]:
            return list(
                await asyncio.gather(
                    *(pool.call_async("order", {"sku": "B2", "quantity": n}, tenant="async") for n in range(5))
                )
            )

        print("asyncio:", [r["total"] for r in asyncio.run(asyncio_host())])  # type: ignore[index]

        with pool.sandbox(), pool.sandbox(), pool.sandbox(), pool.sandbox():
            try:
                pool.call("order", {"sku": "A1", "quantity": 1}, checkout_timeout=0.1)
            except PoolExhaustedError as exc:
                print("all four sandboxes busy:", exc)

        print("stats:", pool.stats())


if __name__ == "__main__":
    main()
