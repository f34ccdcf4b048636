//! A seeded random number generator and the byte mutations a case is made of.

/// SplitMix64: small, fast and the same sequence everywhere for a seed.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator started at `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }

    /// True with probability `1 / n`.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }
}

/// Bytes that decoders treat specially.
const INTERESTING_BYTES: [u8; 6] = [0, 1, 0x7f, 0x80, 0xfe, 0xff];

/// Length-like values written over 2, 4 or 8 bytes.
const INTERESTING_WORDS: [u64; 14] = [
    0,
    1,
    2,
    0x7f,
    0xff,
    0x1000,
    0x3fff,
    0x4000,
    0x7fff,
    0xffff,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    u64::MAX,
];

/// Tokens of the text formats (JSON, RON) and numbers at the edges of their types.
const TOKENS: [&[u8]; 24] = [
    b"\"",
    b"{",
    b"}",
    b"[",
    b"]",
    b"(",
    b")",
    b",",
    b":",
    b"null",
    b"None",
    b"Some(",
    b"-1",
    b"1e999",
    b"-0.0",
    b"NaN",
    b"inf",
    b"18446744073709551616",
    b"4294967295",
    b"340282366920938463463374607431768211456",
    b"\\u0000",
    b"\\ud800",
    b"r#\"",
    b"\xff\xfe",
];

/// The most bytes an insertion adds, so that cases stay near their seeds' size.
const MAX_INSERT: usize = 4096;

/// Applies one to four random mutations to `data`; `other` is a second seed to splice with.
pub fn mutate(rng: &mut Rng, data: &mut Vec<u8>, other: &[u8]) {
    let n = 1 + rng.below(4);
    for _ in 0..n {
        mutate_once(rng, data, other);
    }
}

fn chunk(rng: &mut Rng, len: usize) -> (usize, usize) {
    let at = rng.below(len);
    let max = (len - at).min(MAX_INSERT);
    // short chunks are likelier: the size is drawn below a random bound
    let bound = 1 + rng.below(max);
    let n = 1 + rng.below(bound);
    (at, n)
}

fn mutate_once(rng: &mut Rng, data: &mut Vec<u8>, other: &[u8]) {
    if data.is_empty() {
        data.extend_from_slice(TOKENS[rng.below(TOKENS.len())]);
        return;
    }
    let len = data.len();
    match rng.below(11) {
        0 => {
            let at = rng.below(len);
            data[at] ^= 1 << rng.below(8);
        }
        1 => {
            let at = rng.below(len);
            data[at] = INTERESTING_BYTES[rng.below(INTERESTING_BYTES.len())];
        }
        2 => {
            let at = rng.below(len);
            data[at] = rng.next_u64() as u8;
        }
        3 => {
            // truncation, usually near the end, sometimes anywhere
            let keep = if rng.one_in(2) {
                len - rng.below(len.min(64) + 1)
            } else {
                rng.below(len)
            };
            data.truncate(keep);
        }
        4 => {
            let (at, n) = chunk(rng, len);
            data.drain(at..at + n);
        }
        5 => {
            let (at, n) = chunk(rng, len);
            let copy = data[at..at + n].to_vec();
            let to = rng.below(len + 1);
            data.splice(to..to, copy);
        }
        6 => {
            let n = 1 + rng.below(32);
            let bytes: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
            let to = rng.below(len + 1);
            data.splice(to..to, bytes);
        }
        7 if !other.is_empty() => splice(rng, data, other),
        8 => interesting_word(rng, data),
        9 => token(rng, data),
        _ => extreme_number(rng, data),
    }
}

/// A prefix of `data`, then the rest of `other` from a random point.
fn splice(rng: &mut Rng, data: &mut Vec<u8>, other: &[u8]) {
    let len = data.len();
    let cut = rng.below(len + 1);
    let from = rng.below(other.len());
    data.truncate(cut);
    let take = (other.len() - from).min(MAX_INSERT * 16);
    data.extend_from_slice(&other[from..from + take]);
}

/// A length-like value written over 2, 4 or 8 bytes (little-endian, or big-endian in one
/// case of four), sometimes one off.
fn interesting_word(rng: &mut Rng, data: &mut [u8]) {
    let len = data.len();
    let width = [2usize, 4, 8][rng.below(3)];
    if len >= width {
        let at = rng.below(len - width + 1);
        let mut v = INTERESTING_WORDS[rng.below(INTERESTING_WORDS.len())];
        if rng.one_in(3) {
            v = v.wrapping_add(rng.below(3) as u64).wrapping_sub(1);
        }
        let bytes = v.to_le_bytes();
        let bytes = if rng.one_in(4) {
            let be = v.to_be_bytes();
            let mut b = [0u8; 8];
            b[..width].copy_from_slice(&be[8 - width..]);
            b
        } else {
            bytes
        };
        data[at..at + width].copy_from_slice(&bytes[..width]);
    }
}

/// A token of the text formats inserted, or written over what is there.
fn token(rng: &mut Rng, data: &mut Vec<u8>) {
    let len = data.len();
    let t = TOKENS[rng.below(TOKENS.len())];
    let at = rng.below(len + 1);
    if rng.one_in(2) {
        data.splice(at..at, t.iter().copied());
    } else {
        let end = (at + t.len()).min(len);
        data.splice(at..end, t.iter().copied());
    }
}

/// A digit run replaced by an extreme number (text formats' lengths and indices), or a byte
/// made a digit where none was found.
fn extreme_number(rng: &mut Rng, data: &mut Vec<u8>) {
    let len = data.len();
    if let Some(at) = (0..8)
        .map(|_| rng.below(len))
        .find(|&i| data[i].is_ascii_digit())
    {
        let end = data[at..]
            .iter()
            .position(|b| !b.is_ascii_digit())
            .map_or(len, |p| at + p);
        let t: &[u8] = [
            &b"18446744073709551615"[..],
            b"4294967296",
            b"99999999999",
            b"0",
            b"-1",
        ][rng.below(5)];
        data.splice(at..end, t.iter().copied());
    } else {
        let at = rng.below(len);
        data[at] = b'0' + rng.below(10) as u8;
    }
}

/// Recomputes the CRC of every whole chunk of a PNG, so that mutations of its header and data
/// reach the decoder instead of stopping at the checksum.
pub fn fix_png_crcs(data: &mut [u8]) {
    const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
    if !data.starts_with(SIGNATURE) {
        return;
    }
    let mut at = SIGNATURE.len();
    while at + 12 <= data.len() {
        let len = u32::from_be_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]) as usize;
        let Some(end) = (at + 8).checked_add(len).filter(|e| e + 4 <= data.len()) else {
            return;
        };
        let crc = crc32(&data[at + 4..end]);
        data[end..end + 4].copy_from_slice(&crc.to_be_bytes());
        at = end + 4;
    }
}

/// The CRC-32 of PNG chunks and ZIP entries.
pub(crate) fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in bytes {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_cases_and_every_case_differs_from_its_seed_sometimes() {
        let seed: Vec<u8> = (0..200u8).collect();
        let run = |s| {
            let mut rng = Rng::new(s);
            (0..100)
                .map(|_| {
                    let mut d = seed.clone();
                    mutate(&mut rng, &mut d, b"other seed");
                    d
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        assert!(run(7).iter().filter(|d| **d != seed).count() > 90);
    }

    #[test]
    fn png_checksums_are_repaired() {
        // IEND: an empty chunk whose CRC is well known
        let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\0IEND\0\0\0\0".to_vec();
        fix_png_crcs(&mut png);
        assert_eq!(&png[16..], &[0xae, 0x42, 0x60, 0x82]);
    }

    #[test]
    fn an_empty_input_grows() {
        let mut rng = Rng::new(1);
        let mut d = Vec::new();
        mutate(&mut rng, &mut d, b"");
        assert!(!d.is_empty());
    }
}
