//! Production tokens, bit-for-bit as Metaflow makes them (contract metaflow-sfn §4), so a
//! team can move a deployment between Metaflow's own `step-functions create` and Ferry.
//!
//! The token sequence of a prefix is `t(0), t(1), …, t(9999)` where
//! `t(i) = "{prefix}-{i}-" + 4 letters`. The letters are CPython's
//! `random.seed(zlib.adler32(p)); random.sample(string.ascii_lowercase, 4)` with
//! `p = "{prefix}-{i}-"`: a Mersenne Twister (MT19937) seeded through `init_by_array` with the
//! 32-bit adler32, and `sample`'s set-based path (26 letters > its set size of 21) drawing
//! `randbelow(26)` by rejection from `getrandbits(5)`.

/// How many tokens the sequence of a prefix holds (Metaflow's `range(10000)`).
pub const TOKEN_SEQUENCE_LEN: u32 = 10_000;

const LETTERS: &[u8; 26] = b"abcdefghijklmnopqrstuvwxyz";

/// The first token of `prefix`'s sequence: what a first deploy (or `--generate-new-token` with
/// no previous token) uses. Example: `new_token("graphflow") == "graphflow-0-jfvc"`.
pub fn new_token(prefix: &str) -> String {
    token_at(prefix, 0)
}

/// The token after `prev` in `prefix`'s sequence (`--generate-new-token`). `None` when `prev`
/// is not in the sequence (a custom `--new-token`, another prefix) or is its last element;
/// Metaflow then says "--generate-new-token option is not supported after using --new-token.
/// Use --new-token to make a new namespace."
pub fn next_token(prefix: &str, prev: &str) -> Option<String> {
    let i = token_index(prefix, prev)?;
    (i + 1 < TOKEN_SEQUENCE_LEN).then(|| token_at(prefix, i + 1))
}

/// The position of `token` in `prefix`'s sequence, if it is one of its tokens.
pub fn token_index(prefix: &str, token: &str) -> Option<u32> {
    let rest = token.strip_prefix(prefix)?.strip_prefix('-')?;
    let (digits, _) = rest.split_once('-')?;
    // The sequence writes `i` in decimal without leading zeros.
    if digits.is_empty()
        || digits.len() > 4
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || (digits.len() > 1 && digits.starts_with('0'))
    {
        return None;
    }
    let i: u32 = digits.parse().ok()?;
    (i < TOKEN_SEQUENCE_LEN && token_at(prefix, i) == token).then_some(i)
}

/// Token number `i` of `prefix`'s sequence: `"{prefix}-{i}-"` followed by 4 letters.
pub fn token_at(prefix: &str, i: u32) -> String {
    let mut p = format!("{prefix}-{i}-");
    let seed = adler::adler32_slice(p.as_bytes());
    let mut rng = Mt19937::seeded_like_cpython(seed);
    let mut picked: [usize; 4] = [usize::MAX; 4];
    for slot in 0..4 {
        let j = loop {
            let j = rng.randbelow_26();
            if !picked[..slot].contains(&j) {
                break j;
            }
        };
        picked[slot] = j;
        p.push(LETTERS[j] as char);
    }
    p
}

/// MT19937 with CPython's seeding (`random.seed(n)` for a non-negative `n < 2**32`).
struct Mt19937 {
    mt: [u32; 624],
    index: usize,
}

impl Mt19937 {
    const N: usize = 624;
    const M: usize = 397;

    fn init_genrand(seed: u32) -> Self {
        let mut mt = [0u32; 624];
        mt[0] = seed;
        for i in 1..Self::N {
            mt[i] = 1_812_433_253u32
                .wrapping_mul(mt[i - 1] ^ (mt[i - 1] >> 30))
                .wrapping_add(i as u32);
        }
        Mt19937 { mt, index: Self::N }
    }

    /// `random.seed(n)`: CPython splits `abs(n)` into 32-bit little-endian words (one word here)
    /// and calls `init_by_array` with them.
    fn seeded_like_cpython(n: u32) -> Self {
        let key = [n];
        let mut s = Self::init_genrand(19_650_218);
        let mt = &mut s.mt;
        let (mut i, mut j) = (1usize, 0usize);
        for _ in 0..Self::N.max(key.len()) {
            mt[i] = (mt[i] ^ (mt[i - 1] ^ (mt[i - 1] >> 30)).wrapping_mul(1_664_525))
                .wrapping_add(key[j])
                .wrapping_add(j as u32);
            i += 1;
            j += 1;
            if i >= Self::N {
                mt[0] = mt[Self::N - 1];
                i = 1;
            }
            if j >= key.len() {
                j = 0;
            }
        }
        for _ in 0..Self::N - 1 {
            mt[i] = (mt[i] ^ (mt[i - 1] ^ (mt[i - 1] >> 30)).wrapping_mul(1_566_083_941))
                .wrapping_sub(i as u32);
            i += 1;
            if i >= Self::N {
                mt[0] = mt[Self::N - 1];
                i = 1;
            }
        }
        mt[0] = 0x8000_0000;
        s
    }

    fn next_u32(&mut self) -> u32 {
        if self.index >= Self::N {
            for k in 0..Self::N {
                let y = (self.mt[k] & 0x8000_0000) | (self.mt[(k + 1) % Self::N] & 0x7fff_ffff);
                let mut v = self.mt[(k + Self::M) % Self::N] ^ (y >> 1);
                if y & 1 != 0 {
                    v ^= 0x9908_b0df;
                }
                self.mt[k] = v;
            }
            self.index = 0;
        }
        let mut y = self.mt[self.index];
        self.index += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^= y >> 18;
        y
    }

    /// `random._randbelow(26)`: `getrandbits(5)` (the top 5 bits of one output) until < 26.
    fn randbelow_26(&mut self) -> usize {
        loop {
            let r = (self.next_u32() >> 27) as usize;
            if r < 26 {
                return r;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The verified vectors of contract metaflow-sfn §4.
    #[test]
    fn metaflow_vectors() {
        for (prefix, i, want) in [
            ("demoflow", 0, "demoflow-0-lewq"),
            ("demoflow", 1, "demoflow-1-rnyg"),
            ("graphflow", 0, "graphflow-0-jfvc"),
            ("graphflow", 1, "graphflow-1-odrs"),
            ("helloflow", 0, "helloflow-0-apnt"),
            ("a", 0, "a-0-fucq"),
            ("teama_graphflow", 0, "teama_graphflow-0-vmjr"),
            ("mfprj-xpeo6bwux6q4e6rd", 0, "mfprj-xpeo6bwux6q4e6rd-0-jklr"),
            ("mfprj-xpeo6bwux6q4e6rd", 1, "mfprj-xpeo6bwux6q4e6rd-1-uocl"),
        ] {
            assert_eq!(token_at(prefix, i), want);
        }
        assert_eq!(new_token("graphflow"), "graphflow-0-jfvc");
        assert_eq!(
            next_token("graphflow", "graphflow-0-jfvc").as_deref(),
            Some("graphflow-1-odrs")
        );
        assert_eq!(
            next_token("mfprj-xpeo6bwux6q4e6rd", "mfprj-xpeo6bwux6q4e6rd-0-jklr").as_deref(),
            Some("mfprj-xpeo6bwux6q4e6rd-1-uocl")
        );
    }

    #[test]
    fn next_token_refuses_foreign_tokens() {
        assert_eq!(next_token("graphflow", "my-own-token"), None);
        assert_eq!(next_token("graphflow", "graphflow-0-aaaa"), None);
        assert_eq!(next_token("graphflow", "graphflow-00-jfvc"), None);
        assert_eq!(next_token("graphflow", "demoflow-0-lewq"), None);
        assert_eq!(next_token("graphflow", ""), None);
        let last = token_at("graphflow", TOKEN_SEQUENCE_LEN - 1);
        assert_eq!(
            token_index("graphflow", &last),
            Some(TOKEN_SEQUENCE_LEN - 1)
        );
        assert_eq!(next_token("graphflow", &last), None);
    }
}
