//! Disk sizes: parsing what users type ("20G", "1.5T", "512MiB", "1048576") and printing bytes.
//!
//! Like qemu-img, every unit is a power of 1024: `G`, `GB` and `GiB` all mean 2^30 bytes.

/// Largest disk size accepted anywhere in Hangar: 64 TiB.
pub const MAX_DISK_SIZE: u64 = 64 << 40;

/// A size that could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SizeError {
    /// Nothing was given.
    #[error("no disk size given: write a number with an optional unit, e.g. 20G, 512M or 1.5T")]
    Empty,
    /// The text is not a size.
    #[error("{input:?} is not a disk size: write a number with an optional unit, e.g. 20G, 512M or 1.5T")]
    Invalid {
        /// What was given.
        input: String,
    },
    /// The size is zero.
    #[error("a disk cannot be 0 bytes: give a size such as 20G")]
    Zero,
    /// The size is over [`MAX_DISK_SIZE`].
    #[error("{input} is too large: the largest disk size Hangar accepts is 64 TiB")]
    TooLarge {
        /// What was given.
        input: String,
    },
}

const UNITS: [(&str, u32); 6] = [("", 0), ("k", 10), ("m", 20), ("g", 30), ("t", 40), ("p", 50)];

/// Parse a user-typed size into bytes. Accepts plain bytes, `K M G T P` with optional `B`/`iB`
/// (any case, optional space before the unit) and decimals ("1.5T"); a fractional byte count is
/// rounded up. Zero and sizes over 64 TiB are refused.
pub fn parse_size(input: &str) -> Result<u64, SizeError> {
    let text = input.trim();
    if text.is_empty() {
        return Err(SizeError::Empty);
    }
    let invalid = || SizeError::Invalid {
        input: input.to_string(),
    };
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let unit = unit.trim_start().to_ascii_lowercase();
    let prefix = unit
        .strip_suffix("ib")
        .or_else(|| unit.strip_suffix('b'))
        .unwrap_or(&unit);
    // "ib"/"b" alone (bytes) is fine; "kib" → "k".
    let shift = UNITS
        .iter()
        .find(|(name, _)| *name == prefix)
        .map(|(_, s)| *s)
        .ok_or_else(invalid)?;
    if unit == "ib" {
        return Err(invalid());
    }

    let (int_part, frac_part) = match number.split_once('.') {
        Some((i, f)) => (i, f),
        None => (number, ""),
    };
    if (int_part.is_empty() && frac_part.is_empty())
        || !int_part.bytes().all(|b| b.is_ascii_digit())
        || !frac_part.bytes().all(|b| b.is_ascii_digit())
        || (number.contains('.') && frac_part.is_empty())
    {
        return Err(invalid());
    }
    let too_large = || SizeError::TooLarge {
        input: input.trim().to_string(),
    };
    // Digits beyond what u128 holds can only mean an absurd size (or absurd precision).
    let int_value: u128 = if int_part.is_empty() {
        0
    } else if int_part.trim_start_matches('0').len() > 30 {
        return Err(too_large());
    } else {
        int_part.parse().map_err(|_| invalid())?
    };
    let frac_digits = &frac_part[..frac_part.len().min(18)];
    let frac_value: u128 = if frac_digits.is_empty() {
        0
    } else {
        frac_digits.parse().map_err(|_| invalid())?
    };
    let denominator = 10u128.pow(frac_digits.len() as u32);
    let multiplier = 1u128 << shift;

    let whole = int_value.checked_mul(multiplier).ok_or_else(too_large)?;
    let frac_scaled = frac_value * multiplier; // < 10^18 * 2^50 < 2^110: no overflow
    let bytes = whole + frac_scaled.div_ceil(denominator);
    if bytes == 0 {
        return Err(SizeError::Zero);
    }
    if bytes > MAX_DISK_SIZE as u128 {
        return Err(too_large());
    }
    Ok(bytes as u64)
}

/// Check a byte count against the same limits as [`parse_size`].
pub fn validate_size(bytes: u64) -> Result<u64, SizeError> {
    match bytes {
        0 => Err(SizeError::Zero),
        b if b > MAX_DISK_SIZE => Err(SizeError::TooLarge {
            input: format!("{b} bytes"),
        }),
        b => Ok(b),
    }
}

/// Human-readable binary size: "512 bytes", "1.5 KiB", "20 GiB", "1.25 TiB" (at most two
/// decimals, trailing zeros dropped).
pub fn format_size(bytes: u64) -> String {
    const NAMES: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if bytes < 1024 {
        return if bytes == 1 {
            "1 byte".to_string()
        } else {
            format!("{bytes} bytes")
        };
    }
    let mut index = 0;
    while index + 1 < NAMES.len() && bytes >= 1u64 << (10 * (index + 2)) {
        index += 1;
    }
    // Round to hundredths with integer arithmetic to avoid float artefacts.
    let round = |index: usize| {
        let unit = 1u128 << (10 * (index + 1));
        (bytes as u128 * 100 + unit / 2) / unit
    };
    let mut hundredths = round(index);
    if hundredths >= 1024 * 100 && index + 1 < NAMES.len() {
        index += 1;
        hundredths = round(index);
    }
    let (whole, frac) = (hundredths / 100, hundredths % 100);
    let number = match frac {
        0 => format!("{whole}"),
        f if f % 10 == 0 => format!("{whole}.{}", f / 10),
        f => format!("{whole}.{f:02}"),
    };
    format!("{number} {}", NAMES[index])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_decimals() {
        let cases: [(&str, u64); 14] = [
            ("20G", 20 << 30),
            ("512M", 512 << 20),
            ("2GiB", 2 << 30),
            ("2 GB", 2 << 30),
            ("1.5T", 3 << 39),
            ("1048576", 1 << 20),
            ("4096b", 4096),
            ("64k", 64 << 10),
            (" 10 mib ", 10 << 20),
            ("0.5G", 512 << 20),
            (".5K", 512),
            ("64T", 64 << 40),
            ("0.3K", 308), // 307.2 rounded up
            ("007M", 7 << 20),
        ];
        for (text, bytes) in cases {
            assert_eq!(parse_size(text), Ok(bytes), "{text}");
        }
    }

    #[test]
    fn refuses_garbage_zero_and_absurd() {
        for bad in [
            "abc", "G", "12X", "1.2.3G", "-5G", "5 G B", "1.G", "ib", "5iB", "1e9", "0x10",
        ] {
            assert!(
                matches!(parse_size(bad), Err(SizeError::Invalid { .. })),
                "{bad}: {:?}",
                parse_size(bad)
            );
        }
        assert_eq!(parse_size("   "), Err(SizeError::Empty));
        assert_eq!(parse_size("0"), Err(SizeError::Zero));
        assert_eq!(parse_size("0.0G"), Err(SizeError::Zero));
        for huge in [
            "65T",
            "1P",
            "64.01T",
            "99999999999999999999999999999999999999999999G",
        ] {
            assert!(
                matches!(parse_size(huge), Err(SizeError::TooLarge { .. })),
                "{huge}"
            );
        }
        assert_eq!(validate_size(0), Err(SizeError::Zero));
        assert!(validate_size(MAX_DISK_SIZE + 1).is_err());
        assert_eq!(validate_size(MAX_DISK_SIZE), Ok(MAX_DISK_SIZE));
    }

    #[test]
    fn formats_human_readably() {
        assert_eq!(format_size(0), "0 bytes");
        assert_eq!(format_size(1), "1 byte");
        assert_eq!(format_size(1023), "1023 bytes");
        assert_eq!(format_size(1024), "1 KiB");
        assert_eq!(format_size(1536), "1.5 KiB");
        assert_eq!(format_size(20 << 30), "20 GiB");
        assert_eq!(format_size(3 << 39), "1.5 TiB");
        assert_eq!(format_size((1 << 30) + (1 << 28)), "1.25 GiB");
        assert_eq!(format_size((1 << 20) - 1), "1 MiB");
        assert_eq!(format_size(u64::MAX), "16 EiB");
        for bytes in [20u64 << 30, 512 << 20, 3 << 39] {
            assert_eq!(parse_size(&format_size(bytes)), Ok(bytes));
        }
    }
}
