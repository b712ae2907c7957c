//! Which pages of a copy-on-write mapping the guest has written, read from
//! `/proc/self/pagemap`.
//!
//! In a private mapping of a file, the first write to a page replaces it
//! with an anonymous copy; pagemap reports such a page as present (or
//! swapped out) and not file-backed. Pages the guest only read, or never
//! touched, are still the file's. Reading the map costs 8 bytes per page of
//! the range, read by the kernel from the page tables, so finding what a
//! call dirtied is far cheaper than comparing or copying the memory.

use std::fs::File;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::sync::OnceLock;

/// The host page size the kernel tracks (4 KiB on x86-64; wasm's 64 KiB
/// pages are always whole multiples of it).
pub(super) static PAGE: std::sync::LazyLock<usize> = std::sync::LazyLock::new(|| {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size).ok().filter(|&s| s > 0).unwrap_or(4096)
});

const PRESENT: u64 = 1 << 63;
const SWAPPED: u64 = 1 << 62;
const FILE_OR_SHARED: u64 = 1 << 61;
/// Entries read per system call.
const BATCH: usize = 4096;

/// The pages written in a range, as runs of page indexes from its start.
pub(super) struct DirtyPages {
    runs: Vec<Range<usize>>,
}

impl DirtyPages {
    pub(super) fn runs(&self) -> impl Iterator<Item = Range<usize>> + '_ {
        self.runs.iter().cloned()
    }
}

/// The process's pagemap, opened once; `None` if this kernel or sandbox
/// does not let us read it (restores then remap instead).
fn pagemap() -> Option<&'static File> {
    static PAGEMAP: OnceLock<Option<File>> = OnceLock::new();
    PAGEMAP.get_or_init(|| File::open("/proc/self/pagemap").ok()).as_ref()
}

/// The written pages of the `len` bytes at `base` (page-aligned), or `None`
/// if pagemap cannot be read.
pub(super) fn scan(base: *const u8, len: usize) -> Option<DirtyPages> {
    let pagemap = pagemap()?;
    let page = *PAGE;
    let first = base as usize / page;
    let count = len.div_ceil(page);
    let mut runs: Vec<Range<usize>> = Vec::new();
    let mut entries = vec![0u64; BATCH.min(count.max(1))];
    let mut done = 0;
    while done < count {
        let batch = (count - done).min(entries.len());
        // SAFETY: u64 has no invalid bit patterns; the buffer is viewed as bytes.
        let bytes = unsafe { std::slice::from_raw_parts_mut(entries.as_mut_ptr().cast::<u8>(), batch * 8) };
        pagemap.read_exact_at(bytes, ((first + done) * 8) as u64).ok()?;
        for (i, &entry) in entries[..batch].iter().enumerate() {
            let written = entry & SWAPPED != 0 || (entry & PRESENT != 0 && entry & FILE_OR_SHARED == 0);
            if !written {
                continue;
            }
            let index = done + i;
            match runs.last_mut() {
                Some(run) if run.end == index => run.end += 1,
                _ => runs.push(index..index + 1),
            }
        }
        done += batch;
    }
    Some(DirtyPages { runs })
}
