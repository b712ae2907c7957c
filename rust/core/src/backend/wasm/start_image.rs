//! Start images: the guest as it is once QuickJS has started and the
//! built-ins (`builtins.js`) have run, kept per process so that only the
//! first sandbox of a configuration pays for them.
//!
//! Starting QuickJS and evaluating the built-ins costs milliseconds; mapping
//! a memory image copy-on-write costs microseconds. So the first start of a
//! configuration runs `hl_init` and `hl_setup` and keeps the result (linear
//! memory, through the same [`MemoryImage`] a snapshot uses, and the stack
//! pointer); every later start of that configuration instantiates the guest
//! and puts that state in its memory instead, the way a restore does.
//!
//! **What the state depends on** (the key): the guest module and the
//! built-ins' source, both compiled into this build (the images live in the
//! process-wide [`Shared`](super::engine::Shared) that holds the one guest
//! module, so a different guest is a different process), and the two
//! arguments of `hl_init`: the shadow-stack quota (from the scratch size)
//! and whether there is a print function. Nothing else reaches the guest
//! before a handler loads: the heap limit is the host's resource limiter,
//! not guest state (it is checked again when the memory grows to the image,
//! see [`Instance::start`](super::instance::Instance)); host functions and
//! handler modules are only asked for by `hl_load`.
//!
//! **What must not be shared** is set afresh on every start, exactly as a
//! restore does: Math.random's state (a new seed from the OS) and, unlike a
//! restore, `performance`'s clock origin (`hl_restart_clock`), which a cold
//! start takes from the moment its context was made. QuickJS's hash seed
//! for `Map` keys is shared by the sandboxes of one image, as it is by every
//! sandbox restored from one snapshot; it is never observable (maps keep
//! insertion order).
//!
//! **Memory**: an image holds the guest's memory after start-up (2.5 MiB,
//! of which about 0.5 MiB is not zero: the zero runs are left as holes),
//! its pages shared copy-on-write by every sandbox started from it. The scratch size makes the key open-ended, so
//! at most [`KEPT`] images are kept, the least recently used dropped first;
//! a process cycling through more configurations than that only pays the
//! cold start, as before images. Sandboxes already started from a dropped
//! image keep it alive (they hold it, as they would a snapshot).
//!
//! **Threads**: the list is behind a mutex held only to look up or insert,
//! never while a guest runs. Two threads starting the first sandboxes of one
//! configuration at once may both start cold; both images are equivalent and
//! the later one is kept.

use std::collections::VecDeque;
use std::sync::{Arc, LazyLock, Mutex};

use super::memory::MemoryImage;

/// Images kept per process. Most processes use one or two configurations
/// (the default scratch size, with and without a print function); four
/// covers those with room, at about 0.5 MiB of memory each.
const KEPT: usize = 4;

/// Set to `0` to start every guest cold (for comparing the two; the images
/// change nothing a handler can see).
pub(super) const ENABLE_ENV: &str = "HYPERLIGHT_JS_WASM_START_IMAGE";

/// Everything the guest's state after `hl_init` and `hl_setup` depends on
/// that can differ within one process (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct StartKey {
    /// Shadow stack QuickJS may use (`hl_init`'s `stack_size`).
    pub shadow_quota: u32,
    /// Whether `console.log` and `print` reach the host (`hl_init`'s `print`).
    pub print: bool,
}

/// The guest's state right after start-up, before any handler.
pub(super) struct StartImage {
    pub memory: Arc<MemoryImage>,
    pub stack_pointer: i32,
}

/// The images of this process, most recently used first.
#[derive(Default)]
pub(super) struct StartImages {
    kept: Mutex<VecDeque<(StartKey, Arc<StartImage>)>>,
}

impl StartImages {
    /// The image for `key`, if one is kept (it becomes the most recent).
    pub(super) fn get(&self, key: StartKey) -> Option<Arc<StartImage>> {
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        let at = kept.iter().position(|(kept_key, _)| *kept_key == key)?;
        let entry = kept.remove(at)?;
        let image = entry.1.clone();
        kept.push_front(entry);
        Some(image)
    }

    /// Keeps `image` for `key`, dropping the least recently used image if
    /// there are more than [`KEPT`].
    pub(super) fn keep(&self, key: StartKey, image: Arc<StartImage>) {
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        kept.retain(|(kept_key, _)| *kept_key != key);
        kept.push_front((key, image));
        kept.truncate(KEPT);
    }

    /// The keys kept, most recently used first.
    #[cfg(test)]
    pub(super) fn keys(&self) -> Vec<StartKey> {
        self.kept.lock().unwrap_or_else(|e| e.into_inner()).iter().map(|(key, _)| *key).collect()
    }
}

/// Whether start images are used (read once per process).
pub(super) fn enabled() -> bool {
    static ENABLED: LazyLock<bool> = LazyLock::new(|| std::env::var_os(ENABLE_ENV).is_none_or(|value| value != "0"));
    *ENABLED
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image() -> Arc<StartImage> {
        let memory = Arc::new(MemoryImage::write(&[1u8; 64 * 1024]).expect("an image"));
        Arc::new(StartImage { memory, stack_pointer: 7 })
    }

    fn key(shadow_quota: u32) -> StartKey {
        StartKey { shadow_quota, print: false }
    }

    #[test]
    fn the_first_start_of_a_configuration_keeps_its_image_and_the_next_starts_from_it() {
        use std::collections::BTreeMap;

        use super::super::backend::Wasm;
        use super::super::engine;
        use crate::interrupt::InterruptHandle;
        use crate::spec::{GuestConfig, LoadSpec};

        let shared = match engine::shared() {
            Ok(shared) => shared,
            Err(reason) => {
                eprintln!("skipped: the wasm backend cannot run here: {reason}");
                return;
            }
        };
        if !enabled() {
            eprintln!("skipped: {ENABLE_ENV}=0 turns start images off");
            return;
        }
        // A scratch size nothing else in this binary uses.
        let scratch = 123_457;
        let spec = || {
            Arc::new(LoadSpec {
                guest: GuestConfig { heap_size: 16 << 20, stack_size: scratch, print: None },
                host_modules: BTreeMap::new(),
                handlers: BTreeMap::new(),
                imported_sources: Default::default(),
            })
        };
        let key = StartKey { shadow_quota: scratch as u32, print: false };
        let interrupt = InterruptHandle::new();
        assert!(shared.start_images.get(key).is_none());
        let _first = Wasm::load(spec(), &interrupt).expect("the first guest starts");
        let image = shared.start_images.get(key).expect("the first start kept its image");
        let second = Wasm::load(spec(), &interrupt).expect("the second guest starts");
        // A cold start would have kept an image of its own in its place.
        let kept = shared.start_images.get(key).expect("the image is still kept");
        assert!(Arc::ptr_eq(&kept, &image), "the second guest started cold");
        assert_eq!(second.instance.region.size(), image.memory.len());
    }

    #[test]
    fn the_least_recently_used_image_goes_first() {
        let images = StartImages::default();
        for quota in 0..KEPT as u32 {
            images.keep(key(quota), image());
        }
        assert!(images.get(key(0)).is_some());
        images.keep(key(100), image());
        let keys = images.keys();
        assert_eq!(keys.len(), KEPT);
        assert_eq!(keys[0], key(100));
        assert_eq!(keys[1], key(0));
        assert!(!keys.contains(&key(1)), "key 1 was used least recently: {keys:?}");
        assert!(images.get(key(1)).is_none());
    }

    #[test]
    fn the_print_flag_is_part_of_the_key() {
        let images = StartImages::default();
        images.keep(StartKey { shadow_quota: 1, print: true }, image());
        assert!(images.get(StartKey { shadow_quota: 1, print: false }).is_none());
        assert!(images.get(StartKey { shadow_quota: 1, print: true }).is_some());
    }

    #[test]
    fn keeping_a_key_again_replaces_its_image() {
        let images = StartImages::default();
        images.keep(key(1), image());
        let newer = image();
        images.keep(key(1), newer.clone());
        assert_eq!(images.keys(), vec![key(1)]);
        assert!(images.get(key(1)).is_some_and(|kept| Arc::ptr_eq(&kept, &newer)));
    }
}
