//! Envelope ids for the Python connections without a system call each.
//!
//! `lime::channel::new_id` draws a UUID v4 from the operating system for every envelope (a
//! `getrandom` system call each, 3 % of an echo bot's time). Here one such UUID is drawn per
//! process and the next ids count up from it: the upper 64 bits stay those of the random UUID
//! (its version nibble included), the lower 62 count from its random value under the RFC 9562
//! variant bits. Every id is thus valid UUID v4 text, unique within the process for 2^62 ids,
//! and as unlikely to meet another process's ids as 122 random bits allow for the first one.
//! A forked child draws a new base (`os.register_at_fork`, see [`reseed`]), so parent and child
//! never count from the same place.

use std::sync::{Mutex, PoisonError};

/// The random base and how many ids were made from it.
struct Ids {
    high: u64,
    low: u64,
    count: u64,
}

static IDS: Mutex<Option<Ids>> = Mutex::new(None);

const LOW_BITS: u64 = (1 << 62) - 1;
const VARIANT: u64 = 1 << 63;

fn random_base() -> Ids {
    let text = lime::channel::new_id();
    let hex: String = text.chars().filter(|c| *c != '-').collect();
    let value = u128::from_str_radix(&hex, 16).unwrap_or_default();
    Ids { high: (value >> 64) as u64, low: value as u64, count: 0 }
}

/// A new envelope id: UUID v4 text, lowercase, as `lime::channel::new_id` writes it.
pub(crate) fn new_id() -> String {
    let (high, low) = {
        let mut ids = IDS.lock().unwrap_or_else(PoisonError::into_inner);
        let ids = ids.get_or_insert_with(random_base);
        ids.count = ids.count.wrapping_add(1);
        (ids.high, VARIANT | (ids.low.wrapping_add(ids.count) & LOW_BITS))
    };
    format_uuid((u128::from(high) << 64) | u128::from(low))
}

fn format_uuid(value: u128) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(36);
    for i in 0..32 {
        if matches!(i, 8 | 12 | 16 | 20) {
            text.push('-');
        }
        let nibble = (value >> (124 - 4 * i)) & 0xf;
        text.push(char::from(HEX[nibble as usize]));
    }
    text
}

/// Forgets the base (called in a forked child): the next id draws a new one.
#[pyo3::pyfunction]
pub(crate) fn _reseed_ids() {
    *IDS.lock().unwrap_or_else(PoisonError::into_inner) = None;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_uuid_v4(id: &str) -> bool {
        let groups: Vec<&str> = id.split('-').collect();
        groups.iter().map(|g| g.len()).collect::<Vec<_>>() == [8, 4, 4, 4, 12]
            && id.chars().all(|c| c == '-' || c.is_ascii_digit() || ('a'..='f').contains(&c))
            && groups[2].starts_with('4')
            && matches!(groups[3].as_bytes()[0], b'8' | b'9' | b'a' | b'b')
    }

    #[test]
    fn ids_are_distinct_uuid_v4_text_and_a_reseed_moves_the_base() {
        let first: Vec<String> = (0..1000).map(|_| new_id()).collect();
        assert!(first.iter().all(|id| is_uuid_v4(id)), "{first:?}");
        let distinct: std::collections::HashSet<_> = first.iter().collect();
        assert_eq!(distinct.len(), first.len());
        _reseed_ids();
        let after = new_id();
        assert!(is_uuid_v4(&after));
        assert_ne!(after[..18], first[0][..18], "a new random base after a reseed");
    }

    #[test]
    fn formats_as_hyphenated_lowercase_hex() {
        assert_eq!(
            format_uuid(0x0123_4567_89ab_4def_8123_4567_89ab_cdef),
            "01234567-89ab-4def-8123-456789abcdef"
        );
    }
}
