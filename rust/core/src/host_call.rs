//! What a host function receives: JSON, plus binary data kept apart from
//! it (what it answers is a [`Payload`](crate::payload::Payload)).
//!
//! A `Uint8Array` that is an argument of its own travels beside the JSON
//! array of arguments, which holds `null` in its place; a host function
//! that answers with bytes gives the guest a `Uint8Array`. The bytes never
//! pass through JSON, so no JSON value a guest or host writes can be taken
//! for binary data, and a call without binary data carries nothing extra.
//!
//! Only top-level arguments and whole results are binary: a `Uint8Array`
//! nested in an object or array is serialized as `JSON.stringify` writes it
//! (an object keyed by index). Upstream's runtime also converts nested ones
//! (by reserving the key `"__bin__"`); docs/api.md says why we do not.

/// A host function's arguments.
#[derive(Debug, Clone, Copy)]
pub struct HostArgs<'a> {
    /// The arguments as a JSON array; `null` where `bytes` has an entry.
    pub json: &'a str,
    /// The bytes of each `Uint8Array` argument, by argument position, in
    /// increasing order. Empty for a call without binary arguments.
    pub bytes: &'a [(usize, Vec<u8>)],
}
