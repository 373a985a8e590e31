//! Tile maths of the C2SP tlog-tiles read API (<https://c2sp.org/tlog-tiles>).
//!
//! A tlog-tiles log serves its Merkle tree as *tiles*: the tile at level `L`
//! and index `N` is the row of up to 256 consecutive hashes at tree height
//! `8·L`, starting at node `N·256` of that height, so its hashes are exactly
//! the stored perfect subtrees `(8·L, N·256 + i)` of the [`tree`](crate::tree)
//! module. A *full* tile has 256 hashes; a *partial* tile (the rightmost of a
//! level) has 1 to 255. The entry bundle of level-0 tile `N` holds the leaves
//! the tile's hashes are the leaf hashes of.
//!
//! This module parses and formats tile paths, says which stored nodes a tile
//! is and whether a tree contains it, and encodes entry bundles; serving them
//! is the application's business.

use std::ops::Range;

use crate::LedgerError;

/// Tree levels a tile spans (fixed by the spec).
pub const TILE_HEIGHT: u8 = 8;
/// Hashes in a full tile, and entries in a full entry bundle.
pub const TILE_WIDTH: u16 = 1 << TILE_HEIGHT;
/// The largest tile level a path may name.
pub const MAX_LEVEL: u8 = 63;

/// A tile: its level, its index within the level and its width in hashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tile {
    level: u8,
    index: u64,
    width: u16,
}

impl Tile {
    /// The tile at `level` (0 to 63) and `index`, `width` hashes wide (1 to
    /// 256; 256 is a full tile).
    pub fn new(level: u8, index: u64, width: u16) -> Result<Self, LedgerError> {
        if level > MAX_LEVEL {
            return Err(LedgerError::MalformedTilePath("level above 63"));
        }
        if width == 0 || width > TILE_WIDTH {
            return Err(LedgerError::MalformedTilePath("width outside 1-256"));
        }
        Ok(Self { level, index, width })
    }

    /// Parses the `<L>` and `<N>[.p/<W>]` parts of a `tile/<L>/<N>[.p/<W>]`
    /// path, accepting only the canonical spelling the spec defines (no
    /// leading zeros, no `x000` group in front).
    pub fn parse(level: &str, index: &str) -> Result<Self, LedgerError> {
        let level = parse_decimal(level)
            .and_then(|l| u8::try_from(l).ok())
            .filter(|l| *l <= MAX_LEVEL)
            .ok_or(LedgerError::MalformedTilePath("level is not a number from 0 to 63"))?;
        let (index, width) = parse_index(index)?;
        Self::new(level, index, width)
    }

    /// Parses the `<N>[.p/<W>]` part of a `tile/entries/<N>[.p/<W>]` path:
    /// the entry bundle of level-0 tile `N`.
    pub fn parse_entries(index: &str) -> Result<Self, LedgerError> {
        let (index, width) = parse_index(index)?;
        Self::new(0, index, width)
    }

    /// The tile's level.
    pub fn level(&self) -> u8 {
        self.level
    }

    /// The tile's index within its level.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// The number of hashes in the tile.
    pub fn width(&self) -> u16 {
        self.width
    }

    /// Whether the tile has all 256 hashes; a full tile never changes.
    pub fn is_full(&self) -> bool {
        self.width == TILE_WIDTH
    }

    /// `tile/<L>/<N>[.p/<W>]`
    pub fn path(&self) -> String {
        format!("tile/{}/{}", self.level, self.index_path())
    }

    /// `tile/entries/<N>[.p/<W>]`, the entry bundle of the level-0 tile with
    /// this index and width.
    pub fn entries_path(&self) -> String {
        format!("tile/entries/{}", self.index_path())
    }

    fn index_path(&self) -> String {
        // Groups of three digits, most significant first.
        let mut groups = vec![self.index % 1000];
        let mut rest = self.index / 1000;
        while rest > 0 {
            groups.push(rest % 1000);
            rest /= 1000;
        }
        let (last, leading) = groups.split_first().expect("at least one group");
        let mut path: String = leading.iter().rev().map(|g| format!("x{g:03}/")).collect();
        path.push_str(&format!("{last:03}"));
        if !self.is_full() {
            path.push_str(&format!(".p/{}", self.width));
        }
        path
    }

    /// The stored nodes whose hashes the tile holds, in order: the level
    /// (`8·L`) and the range of node indexes there; `None` unless every one
    /// of them is a perfect subtree of the tree of `tree_size` leaves.
    ///
    /// For level 0 the range is also the range of leaves in the tile's entry
    /// bundle.
    pub fn nodes(&self, tree_size: u64) -> Option<(u8, Range<u64>)> {
        let node_level = self.level.checked_mul(TILE_HEIGHT).filter(|l| *l < 64)?;
        let first = self.index.checked_mul(u64::from(TILE_WIDTH))?;
        let end = first.checked_add(u64::from(self.width))?;
        // The last hash covers leaves up to `end · 2^node_level`.
        let leaves_end = u128::from(end) << node_level;
        (leaves_end <= u128::from(tree_size)).then_some((node_level, first..end))
    }
}

/// Parses `<N>[.p/<W>]`.
fn parse_index(path: &str) -> Result<(u64, u16), LedgerError> {
    let (index, width) = match path.split_once(".p/") {
        Some((index, width)) => {
            let width = parse_decimal(width)
                .filter(|w| (1..u64::from(TILE_WIDTH)).contains(w))
                .ok_or(LedgerError::MalformedTilePath("partial width is not a number from 1 to 255"))?;
            (index, width as u16)
        }
        None => (path, TILE_WIDTH),
    };
    let groups: Vec<&str> = index.split('/').collect();
    if groups.len() > 1 && groups[0] == "x000" {
        return Err(LedgerError::MalformedTilePath("index has a leading x000 group"));
    }
    let mut value: u64 = 0;
    for (i, group) in groups.iter().enumerate() {
        let digits = if i + 1 < groups.len() {
            group.strip_prefix('x').ok_or(LedgerError::MalformedTilePath("index group without its x prefix"))?
        } else {
            group
        };
        if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(LedgerError::MalformedTilePath("index groups are three digits"));
        }
        value = value
            .checked_mul(1000)
            .and_then(|v| v.checked_add(digits.bytes().fold(0, |n, d| n * 10 + u64::from(d - b'0'))))
            .ok_or(LedgerError::MalformedTilePath("index too large"))?;
    }
    Ok((value, width))
}

/// A decimal number without signs or leading zeros.
fn parse_decimal(text: &str) -> Option<u64> {
    let canonical =
        !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) && (text == "0" || !text.starts_with('0'));
    canonical.then(|| text.parse().ok()).flatten()
}

/// An entry bundle: each entry as a big-endian `u16` length followed by its
/// bytes.
pub fn entry_bundle<'a>(entries: impl IntoIterator<Item = &'a [u8]>) -> Result<Vec<u8>, LedgerError> {
    let mut bundle = Vec::new();
    for entry in entries {
        let len = u16::try_from(entry.len()).map_err(|_| LedgerError::EntryTooLong(entry.len()))?;
        bundle.extend_from_slice(&len.to_be_bytes());
        bundle.extend_from_slice(entry);
    }
    Ok(bundle)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;
    use crate::hash::{Hash, leaf_hash, node_hash};
    use crate::tree::{self, NodeId};

    fn tile(level: u8, index: u64, width: u16) -> Tile {
        Tile::new(level, index, width).unwrap()
    }

    #[test]
    fn paths_follow_the_spec_examples() {
        assert_eq!(tile(0, 1_234_067, 256).path(), "tile/0/x001/x234/067");
        assert_eq!(tile(1, 1_234_067, 8).entries_path(), "tile/entries/x001/x234/067.p/8");
        assert_eq!(tile(2, 0, 1).path(), "tile/2/000.p/1");
        assert_eq!(tile(0, 999, 256).path(), "tile/0/999");
        assert_eq!(tile(0, 1000, 256).path(), "tile/0/x001/000");
        assert_eq!(tile(63, u64::MAX, 255).path(), "tile/63/x018/x446/x744/x073/x709/x551/615.p/255");
        assert_eq!(Tile::parse("0", "x001/x234/067"), Ok(tile(0, 1_234_067, 256)));
        assert_eq!(Tile::parse("5", "x001/000.p/17"), Ok(tile(5, 1000, 17)));
        assert_eq!(Tile::parse_entries("042.p/1"), Ok(tile(0, 42, 1)));
        assert_eq!(Tile::parse("63", "x018/x446/x744/x073/x709/x551/615"), Ok(tile(63, u64::MAX, 256)));
    }

    #[test]
    fn non_canonical_paths_are_rejected() {
        let bad_levels = ["", "00", "01", "+1", "-1", "64", "256", "1a", " 1", "99999999999999999999999"];
        for level in bad_levels {
            assert!(Tile::parse(level, "000").is_err(), "level {level:?}");
        }
        let bad_indexes = [
            "",
            "1",
            "01",
            "0001",
            "x001",
            "001/002",
            "x001/x002",
            "x000/001",
            "x001/02",
            "x1/001",
            "xx01/001",
            "x001//001",
            "/001",
            "001/",
            "00a",
            "000.p/0",
            "000.p/256",
            "000.p/01",
            "000.p/",
            "000.p/1/2",
            "000.p/+1",
            "000.p",
            "000.q/1",
            "x018/x446/x744/x073/x709/x551/616",
            "x001/x018/x446/x744/x073/x709/x551/615",
        ];
        for index in bad_indexes {
            assert!(Tile::parse("0", index).is_err(), "index {index:?}");
            assert!(Tile::parse_entries(index).is_err(), "entries index {index:?}");
        }
        assert!(Tile::new(64, 0, 1).is_err());
        assert!(Tile::new(0, 0, 0).is_err());
        assert!(Tile::new(0, 0, 257).is_err());
    }

    #[test]
    fn the_spec_example_of_a_tree_of_70000() {
        // 273 full level-0 tiles, a partial one of width 112, one full level-1 tile, a
        // partial level-1 tile of width 17 and a partial level-2 tile of width 1.
        let size = 70_000;
        assert!(tile(0, 272, 256).nodes(size).is_some());
        assert!(tile(0, 273, 256).nodes(size).is_none());
        assert_eq!(tile(0, 273, 112).nodes(size), Some((0, 69_888..70_000)));
        assert!(tile(0, 273, 113).nodes(size).is_none());
        assert_eq!(tile(1, 0, 256).nodes(size), Some((8, 0..256)));
        assert_eq!(tile(1, 1, 17).nodes(size), Some((8, 256..273)));
        assert!(tile(1, 1, 18).nodes(size).is_none());
        assert_eq!(tile(2, 0, 1).nodes(size), Some((16, 0..1)));
        assert!(tile(2, 0, 2).nodes(size).is_none());
        assert!(tile(3, 0, 1).nodes(size).is_none());
        // A tree of 256 leaves: one full level-0 tile and a level-1 tile of width 1.
        assert_eq!(tile(1, 0, 1).nodes(256), Some((8, 0..1)));
        assert!(tile(0, 0, 256).nodes(255).is_none());
    }

    #[test]
    fn huge_coordinates_do_not_overflow() {
        assert!(tile(7, u64::MAX, 256).nodes(u64::MAX).is_none());
        assert!(tile(8, 0, 1).nodes(u64::MAX).is_none());
        assert!(tile(63, u64::MAX, 255).nodes(u64::MAX).is_none());
        assert_eq!(tile(7, 0, 1).nodes(u64::MAX), Some((56, 0..1)));
    }

    #[test]
    fn entry_bundles_are_length_prefixed() {
        let entries: [&[u8]; 3] = [b"ab", b"", &[7; 300]];
        let bundle = entry_bundle(entries).unwrap();
        assert_eq!(&bundle[..6], &[0, 2, b'a', b'b', 0, 0]);
        assert_eq!(&bundle[6..8], &[1, 44]);
        assert_eq!(bundle.len(), 8 + 300);
        let long = vec![0; 65_536];
        assert_eq!(entry_bundle([long.as_slice()]), Err(LedgerError::EntryTooLong(65_536)));
        assert_eq!(entry_bundle([&long[1..]]).unwrap().len(), 65_537);
    }

    /// The node table of a log of `size` leaves, as the application stores it.
    fn table(size: u64) -> HashMap<NodeId, Hash> {
        let mut table = HashMap::new();
        for n in 0..size {
            let fetched: HashMap<NodeId, Hash> = tree::append_plan(n).into_iter().map(|id| (id, table[&id])).collect();
            table.extend(tree::append_nodes(n, leaf_hash(&n.to_be_bytes()), &fetched).unwrap());
        }
        table
    }

    /// The root of a tree from its tiles alone, the way a tlog-tiles client computes it.
    fn root_from_tiles(size: u64, tiles: &HashMap<(u8, u64), Vec<Hash>>) -> Hash {
        let mut subtrees = Vec::new();
        for height in (0..64u32).rev().filter(|h| size >> h & 1 == 1) {
            let index = (size >> height) - 1;
            let (level, rest) = (height / 8, height % 8);
            let first = index << rest;
            let row = &tiles[&(level as u8, first / 256)];
            let mut hashes: Vec<Hash> = row[(first % 256) as usize..][..1 << rest].to_vec();
            while hashes.len() > 1 {
                hashes = hashes.chunks(2).map(|p| node_hash(&p[0], &p[1])).collect();
            }
            subtrees.push(hashes[0]);
        }
        subtrees.into_iter().rev().reduce(|right, left| node_hash(&left, &right)).unwrap()
    }

    proptest! {
        #[test]
        fn paths_round_trip(level in 0..=MAX_LEVEL, index: u64, width in 1..=TILE_WIDTH) {
            let t = tile(level, index, width);
            let path = t.path();
            let rest = path.strip_prefix(&format!("tile/{level}/")).unwrap();
            prop_assert_eq!(Tile::parse(&level.to_string(), rest), Ok(t));
            let entries = t.entries_path();
            let rest = entries.strip_prefix("tile/entries/").unwrap();
            prop_assert_eq!(Tile::parse_entries(rest), Ok(tile(0, index, width)));
        }

        /// The tiles a tree contains are exactly those whose nodes are stored, and the
        /// rightmost tile of each level recomputes the root with the full ones.
        #[test]
        fn tiles_are_stored_nodes_and_recompute_the_root(size in 1u64..1200) {
            let table = table(size);
            let mut tiles = HashMap::new();
            for level in 0..2u8 {
                let row = size >> (8 * level);
                for index in 0..=row / 256 {
                    for width in [1, 2, 128, 255, 256] {
                        let t = tile(level, index, width);
                        let start = index * 256;
                        let stored = (start..start + u64::from(width))
                            .all(|i| table.contains_key(&NodeId::new(8 * level, i)));
                        prop_assert_eq!(t.nodes(size).is_some(), stored, "{:?} in {}", t, size);
                    }
                    // The full tile, or the partial one of width (size / 256^level) mod 256.
                    let width = if index < row / 256 { 256 } else { (row % 256) as u16 };
                    if width == 0 {
                        continue;
                    }
                    let (node_level, range) = tile(level, index, width).nodes(size).unwrap();
                    let hashes: Vec<Hash> = range.map(|i| table[&NodeId::new(node_level, i)]).collect();
                    tiles.insert((level, index), hashes);
                }
            }
            let nodes: HashMap<NodeId, Hash> =
                tree::root_plan(size).into_iter().map(|id| (id, table[&id])).collect();
            prop_assert_eq!(root_from_tiles(size, &tiles), tree::root(size, &nodes).unwrap());
        }
    }
}
