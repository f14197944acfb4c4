//! The deterministic pseudo-random byte stream each demo connection sends.
//!
//! Byte `k` of stream `seed` depends only on `(seed, k)`: word `k / 8` is
//! SplitMix64 of the seed mixed with the word index. Sender and verifier can
//! therefore produce any part of the stream independently, in any chunking,
//! without keeping the whole payload in memory.

/// One connection's byte stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pattern {
    seed: u64,
}

impl Pattern {
    /// The stream of connection `index` (every index gives a different stream).
    pub fn for_connection(index: u64) -> Pattern {
        Pattern { seed: splitmix64(0x5753_4B20_4543_484F ^ index) }
    }

    /// Fills `out` with the stream's bytes from position `offset` on.
    pub fn fill(&self, offset: u64, out: &mut [u8]) {
        let mut pos = offset;
        let mut rest = out;
        while !rest.is_empty() {
            let word = self.word(pos / 8).to_le_bytes();
            let start = (pos % 8) as usize;
            let n = (8 - start).min(rest.len());
            rest[..n].copy_from_slice(&word[start..start + n]);
            rest = &mut rest[n..];
            pos += n as u64;
        }
    }

    /// The position (relative to `data`) of the first byte of `data` that differs from
    /// the stream at `offset`, with the expected and the actual byte.
    pub fn first_mismatch(&self, offset: u64, data: &[u8]) -> Option<(usize, u8, u8)> {
        let mut expected = [0u8; 4096];
        for (block, got) in data.chunks(expected.len()).enumerate() {
            let start = block * expected.len();
            let want = &mut expected[..got.len()];
            self.fill(offset + start as u64, want);
            if want != got {
                let i = want.iter().zip(got).position(|(a, b)| a != b).expect("slices differ");
                return Some((start + i, want[i], got[i]));
            }
        }
        None
    }

    fn word(&self, index: u64) -> u64 {
        splitmix64(self.seed.wrapping_add(index.wrapping_mul(0x9E37_79B9_7F4A_7C15)))
    }
}

/// SplitMix64's output function: a fast, well-mixed 64-bit hash.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_chunking_gives_the_same_stream() {
        let p = Pattern::for_connection(3);
        let mut whole = vec![0u8; 1000];
        p.fill(0, &mut whole);
        let mut pieces = vec![0u8; 1000];
        let mut off = 0;
        for len in [1usize, 7, 8, 13, 100, 871] {
            p.fill(off as u64, &mut pieces[off..off + len]);
            off += len;
        }
        assert_eq!(whole, pieces);
        assert_eq!(p.first_mismatch(0, &whole), None);
    }

    #[test]
    fn streams_differ_and_mismatches_are_located() {
        let mut a = vec![0u8; 64];
        let mut b = vec![0u8; 64];
        Pattern::for_connection(0).fill(0, &mut a);
        Pattern::for_connection(1).fill(0, &mut b);
        assert_ne!(a, b);

        let p = Pattern::for_connection(9);
        let mut data = vec![0u8; 10_000];
        p.fill(500, &mut data);
        let want = data[6000];
        data[6000] ^= 0x40;
        assert_eq!(p.first_mismatch(500, &data), Some((6000, want, want ^ 0x40)));
    }
}
