//! Table-driven CRCs, eight bytes per step ("slicing-by-8"): CRC-32 (IEEE, as gzip uses it)
//! for request bodies and CRC-32C (Castagnoli) for the persistence log's records.
//!
//! Slicing-by-8 keeps checksums to milliseconds when replaying a log of a million series.
//! Castagnoli for the log because it detects more error patterns at record sizes like ours
//! (the checksum of ext4 metadata, iSCSI and LevelDB for that reason).

/// A CRC with a bit-reversed polynomial. `tables[0]` is the classic byte-at-a-time table;
/// `tables[k][b]` is the CRC of byte `b` followed by `k` zero bytes, which lets eight input
/// bytes be folded in at once.
pub(crate) struct Crc {
    tables: [[u32; 256]; 8],
}

impl Crc {
    const fn new(poly: u32) -> Crc {
        let mut t = [[0u32; 256]; 8];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut bit = 0;
            while bit < 8 {
                c = if c & 1 == 1 { (c >> 1) ^ poly } else { c >> 1 };
                bit += 1;
            }
            t[0][i] = c;
            i += 1;
        }
        let mut i = 0;
        while i < 256 {
            let mut k = 1;
            while k < 8 {
                let prev = t[k - 1][i];
                t[k][i] = (prev >> 8) ^ t[0][(prev & 0xff) as usize];
                k += 1;
            }
            i += 1;
        }
        Crc { tables: t }
    }

    /// The checksum of `data` appended to data whose checksum was `prev` (0 for none), so a
    /// stream can be checksummed piece by piece.
    pub(crate) fn update(&self, prev: u32, data: &[u8]) -> u32 {
        let t = &self.tables;
        let mut c = !prev;
        let mut chunks = data.chunks_exact(8);
        for ch in &mut chunks {
            let lo = u32::from_le_bytes([ch[0], ch[1], ch[2], ch[3]]) ^ c;
            let hi = u32::from_le_bytes([ch[4], ch[5], ch[6], ch[7]]);
            c = t[7][(lo & 0xff) as usize]
                ^ t[6][((lo >> 8) & 0xff) as usize]
                ^ t[5][((lo >> 16) & 0xff) as usize]
                ^ t[4][(lo >> 24) as usize]
                ^ t[3][(hi & 0xff) as usize]
                ^ t[2][((hi >> 8) & 0xff) as usize]
                ^ t[1][((hi >> 16) & 0xff) as usize]
                ^ t[0][(hi >> 24) as usize];
        }
        for &b in chunks.remainder() {
            c = t[0][((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8);
        }
        !c
    }
}

const CRC32_POLY: u32 = 0xEDB8_8320;
const CRC32C_POLY: u32 = 0x82F6_3B78;
static CRC32: Crc = Crc::new(CRC32_POLY);
static CRC32C: Crc = Crc::new(CRC32C_POLY);

/// CRC-32 (IEEE 802.3), as in gzip trailers and headers.
pub(crate) fn crc32(data: &[u8]) -> u32 {
    CRC32.update(0, data)
}

/// CRC-32 of `prev`'s data followed by `data`.
pub(crate) fn crc32_update(prev: u32, data: &[u8]) -> u32 {
    CRC32.update(prev, data)
}

/// CRC-32C (Castagnoli).
pub(crate) fn crc32c(data: &[u8]) -> u32 {
    CRC32C.update(0, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bit by bit, straight from the definition, to check the tables against.
    fn reference(poly: u32, data: &[u8]) -> u32 {
        let mut c = !0u32;
        for &b in data {
            c ^= u32::from(b);
            for _ in 0..8 {
                c = if c & 1 == 1 { (c >> 1) ^ poly } else { c >> 1 };
            }
        }
        !c
    }

    #[test]
    fn known_values() {
        // The standard check values of both CRCs (RFC 3720 appendix B.4 lists more for 32C).
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32c(b""), 0);
        assert_eq!(crc32c(&[0u8; 32]), 0x8A91_36AA);
        assert_eq!(crc32c(&[0xffu8; 32]), 0x62A8_AB43);
    }

    #[test]
    fn every_length_and_alignment_matches_the_definition() {
        let data: Vec<u8> = (0..300u32).map(|i| (i * 7 + i / 5) as u8).collect();
        for start in 0..9 {
            for end in start..data.len() {
                let d = &data[start..end];
                assert_eq!(crc32(d), reference(CRC32_POLY, d));
                assert_eq!(crc32c(d), reference(CRC32C_POLY, d));
            }
        }
    }
}
