"""The README's example: a handler under the recommended pair of monitors."""

from hyperlight_js import CpuTimeMonitor, ExecutionCancelled, SandboxBuilder, WallClockMonitor

sandbox = SandboxBuilder().build().load_runtime()
sandbox.add_handler("greet", "function handler(e) { return { hello: e.name } }")
sandbox.add_handler("spin", "function handler() { while (true) {} }")
loaded = sandbox.get_loaded_sandbox()
snapshot = loaded.snapshot()
limits = (WallClockMonitor(1.0), CpuTimeMonitor(0.1))

print(loaded.call_handler("greet", {"name": "world"}, monitor=limits))
try:
    loaded.call_handler("spin", monitor=limits)
except ExecutionCancelled as exc:
    print(f"ended by {exc.monitor}; poisoned={loaded.poisoned}")
    loaded.restore(snapshot)
print(loaded.call_handler("greet", {"name": "again"}))
