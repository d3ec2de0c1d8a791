//! Byte-level mutations of a seed file for the fuzz tests: flips, overwrites with boundary
//! values, insertions of tokens that parsers trip on, removals and truncations. Shared by the
//! vireid-data, vireid-nn and vireid-engine fuzz tests.
#![allow(dead_code)]

use proptest::prelude::*;

/// Tokens that make parsers take unusual paths: huge and negative numbers, separators,
/// Python literal syntax (.npy headers), NaN, bytes that are not text.
const TOKENS: &[&[u8]] = &[
    b"99999999999999999999999",
    b"4294967296",
    b"-1",
    b"0",
    b"\n",
    b",",
    b" ",
    b"(",
    b")",
    b"'shape': (",
    b"nan",
    b"inf",
    b"=",
    b"\"",
    b"[",
    b"\x00",
    b"\xff\xfe",
    b"../",
];

#[derive(Debug, Clone)]
pub enum Edit {
    Flip(usize, u8),
    Set(usize, u8),
    /// Overwrite four bytes with a boundary value (little-endian).
    Word(usize, u32),
    Insert(usize, Vec<u8>),
    Remove(usize, usize),
    Truncate(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let word = prop_oneof![
        Just(0u32),
        Just(1),
        Just(0x7fff_ffff),
        Just(0x8000_0000),
        Just(0xffff_ffff),
        Just(0xffff),
        any::<u32>(),
    ];
    let token = prop_oneof![
        proptest::sample::select(TOKENS).prop_map(|t| t.to_vec()),
        proptest::collection::vec(any::<u8>(), 1..8),
    ];
    prop_oneof![
        3 => (any::<usize>(), 0u8..8).prop_map(|(p, b)| Edit::Flip(p, b)),
        2 => (any::<usize>(), any::<u8>()).prop_map(|(p, v)| Edit::Set(p, v)),
        2 => (any::<usize>(), word).prop_map(|(p, w)| Edit::Word(p, w)),
        2 => (any::<usize>(), token).prop_map(|(p, t)| Edit::Insert(p, t)),
        1 => (any::<usize>(), 1usize..16).prop_map(|(p, n)| Edit::Remove(p, n)),
        1 => any::<usize>().prop_map(Edit::Truncate),
    ]
}

/// One to six edits.
pub fn edits() -> impl Strategy<Value = Vec<Edit>> {
    proptest::collection::vec(edit(), 1..6)
}

/// `seed` with `edits` applied in order (positions wrap around the current length).
pub fn apply(seed: &[u8], edits: &[Edit]) -> Vec<u8> {
    let mut b = seed.to_vec();
    for e in edits {
        let at = |p: usize, len: usize| if len == 0 { 0 } else { p % len };
        match e {
            Edit::Flip(p, bit) if !b.is_empty() => {
                let i = at(*p, b.len());
                b[i] ^= 1 << bit;
            }
            Edit::Set(p, v) if !b.is_empty() => {
                let i = at(*p, b.len());
                b[i] = *v;
            }
            Edit::Word(p, w) if b.len() >= 4 => {
                let i = at(*p, b.len() - 3);
                b[i..i + 4].copy_from_slice(&w.to_le_bytes());
            }
            Edit::Insert(p, t) => {
                let i = at(*p, b.len() + 1);
                b.splice(i..i, t.iter().copied());
            }
            Edit::Remove(p, n) if !b.is_empty() => {
                let i = at(*p, b.len());
                let end = (i + n).min(b.len());
                b.drain(i..end);
            }
            Edit::Truncate(p) => {
                let i = at(*p, b.len() + 1);
                b.truncate(i);
            }
            _ => {}
        }
    }
    b
}

/// Cases per fuzz target: proptest's PROPTEST_CASES when set (the long run), else `quick`.
pub fn cases(quick: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(quick)
}

/// A seed file of the corpus of the crate at `manifest_dir` (tests/fuzz-corpus/NAME).
pub fn seed_file(manifest_dir: &str, name: &str) -> Vec<u8> {
    let path = std::path::Path::new(manifest_dir)
        .join("tests/fuzz-corpus")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
