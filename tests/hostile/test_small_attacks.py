"""Small ways a guest or a caller could get more than it should: text that
vanishes, names that break the engine, console output that drives the
host's terminal."""

from __future__ import annotations

import pytest

from conftest import new_builder
from hyperlight_js import GuestError, SandboxBuilder


def test_a_lone_surrogate_is_replaced_not_dropped_in_console_lines(builder: SandboxBuilder) -> None:
    lines: list[str] = []
    sandbox = builder.with_host_print_fn(lines.append).build().load_runtime()
    sandbox.add_handler("h", r"function handler() { console.log('a\uD800b', 'c\uDC00'); print('\uDBFF!'); return 1 }")
    assert sandbox.get_loaded_sandbox().call_handler("h") == 1
    assert lines == ["a\ufffdb c\ufffd\n", "\ufffd!"]


def test_a_lone_surrogate_is_replaced_not_dropped_in_error_messages(builder: SandboxBuilder) -> None:
    sandbox = builder.build().load_runtime()
    sandbox.add_handler("h", r"function handler() { throw new Error('bad \uD800 input') }")
    with pytest.raises(GuestError) as failed:
        sandbox.get_loaded_sandbox().call_handler("h")
    assert "Error: bad \ufffd input" in str(failed.value)


def test_paired_surrogates_stay_one_character(builder: SandboxBuilder) -> None:
    lines: list[str] = []
    sandbox = builder.with_host_print_fn(lines.append).build().load_runtime()
    sandbox.add_handler("h", r"function handler() { console.log('\uD83D\uDE00'); return 0 }")
    sandbox.get_loaded_sandbox().call_handler("h")
    assert lines == ["\U0001f600\n"]


@pytest.mark.parametrize("name", ["\0", "a\0b", "handler\0"])
def test_a_handler_name_with_nul_is_refused_when_added(name: str, builder: SandboxBuilder) -> None:
    sandbox = builder.build().load_runtime()
    with pytest.raises(ValueError, match="NUL"):
        sandbox.add_handler(name, "function handler() { return 1 }")
    assert sandbox.handler_names == []
    sandbox.add_handler("ok", "function handler() { return 1 }")
    assert sandbox.get_loaded_sandbox().call_handler("ok") == 1


FORGERY = r"function handler() { console.log('\x1b]0;owned\x07\x1b[2J\rfake\u009b31m ok\u202eevil\x7f\ttab\nline'); return 0 }"


def test_the_default_print_function_escapes_terminal_controls(capsys: pytest.CaptureFixture[str], backend: str) -> None:
    sandbox = new_builder(backend).build().load_runtime()  # the default print function
    sandbox.add_handler("h", FORGERY)
    sandbox.get_loaded_sandbox().call_handler("h")
    out = capsys.readouterr().out
    assert out == "\\x1b]0;owned\\x07\\x1b[2J\\x0dfake\\x9b31m ok\\u202eevil\\x7f\ttab\nline\n"


def test_a_users_print_function_gets_the_raw_text(builder: SandboxBuilder) -> None:
    lines: list[str] = []
    sandbox = builder.with_host_print_fn(lines.append).build().load_runtime()
    sandbox.add_handler("h", FORGERY)
    sandbox.get_loaded_sandbox().call_handler("h")
    assert lines == ["\x1b]0;owned\x07\x1b[2J\rfake\x9b31m ok\u202eevil\x7f\ttab\nline\n"]
