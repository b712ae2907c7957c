//! Guest output to the host's print function.
//!
//! In the micro-VM, `console.log` and `print` write to the guest's C stdout,
//! which hyperlight-js flushes to the host after each of them; `console.log`
//! adds a newline. The print function receives that text as it is, newline
//! included, as on the other backends (docs/builtins.md). (Text longer than
//! the guest's stdout buffer arrives in more than one call.)

use hyperlight_js::HostPrintFn;

use crate::spec::PrintFn;

pub(super) fn print_fn(print: PrintFn) -> HostPrintFn {
    HostPrintFn::from(move |text: String| -> hyperlight_js::Result<i32> {
        print(&text);
        Ok(i32::try_from(text.len()).unwrap_or(i32::MAX))
    })
}
