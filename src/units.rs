//! Formatting of counts, rates, times and bytes. Counts and rates never share a unit name: `GFLOPs` is a count,
//! `GFLOP/s` a rate.

/// `text` with every control character (ANSI escapes, newlines, NUL…) escaped as `\u{1b}`, so names read from files
/// cannot drive the terminal.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if text.chars().any(char::is_control) {
        text.chars()
            .map(|c| {
                if c.is_control() {
                    c.escape_unicode().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect::<String>()
            .into()
    } else {
        text.into()
    }
}

/// A ratio worded so that its factor is at least 1: `times(4.0, "fewer", "more")` → "4.0× fewer",
/// `times(0.25, "fewer", "more")` → "4.0× more" (never "0.25× fewer"). A ratio that is not finite and positive
/// prints as "—".
pub fn times(ratio: f64, at_least_one: &str, below_one: &str) -> String {
    if !(ratio.is_finite() && ratio > 0.0) {
        "—".to_string()
    } else if ratio >= 1.0 {
        format!("{ratio:.1}× {at_least_one}")
    } else {
        format!("{:.1}× {below_one}", 1.0 / ratio)
    }
}

/// `462422016` → `462,422,016`.
pub fn group_digits(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A value with an SI prefix and three significant digits: `si(462.4e6, "FLOPs")` → `462 MFLOPs`.
pub fn si(value: f64, unit: &str) -> String {
    const PREFIXES: [(f64, &str); 5] = [(1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")];
    if !value.is_finite() {
        return format!("{value} {unit}");
    }
    for (scale, prefix) in PREFIXES {
        if value.abs() >= scale {
            return format!("{} {prefix}{unit}", three_digits(value / scale));
        }
    }
    format!("{} {unit}", three_digits(value))
}

/// Three significant digits without exponent notation.
pub fn three_digits(value: f64) -> String {
    let magnitude = value.abs();
    if magnitude >= 100.0 || magnitude == 0.0 {
        format!("{value:.0}")
    } else if magnitude >= 10.0 {
        format!("{value:.1}")
    } else if magnitude >= 1.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.3}")
    }
}

/// A count of floating-point operations, e.g. `925 MFLOPs`.
pub fn flops_count(flops: u64) -> String {
    si(flops as f64, "FLOPs")
}

/// A rate of floating-point operations, e.g. `41.3 GFLOP/s`.
pub fn flops_rate(flops_per_s: f64) -> String {
    si(flops_per_s, "FLOP/s")
}

/// Bytes with binary prefixes: `4.00 MiB`.
pub fn bytes(n: u64) -> String {
    const PREFIXES: [(u64, &str); 4] = [(1 << 40, "TiB"), (1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    for (scale, prefix) in PREFIXES {
        if n >= scale {
            return format!("{} {prefix}", three_digits(n as f64 / scale as f64));
        }
    }
    format!("{n} B")
}

/// Bytes for error messages: the readable size and the exact count, `64.0 GiB (68,719,476,736 bytes)`.
pub fn bytes_exact(n: u64) -> String {
    if n < 1024 {
        format!("{n} bytes")
    } else {
        format!("{} ({} bytes)", bytes(n), group_digits(n))
    }
}

/// A byte size as a person writes it: plain bytes (`1048576`), or a number with a unit: `512MiB`, `2GiB`, `1.5 GiB`,
/// `64k`, `3MB`. Binary units (KiB, MiB, GiB, TiB; K, M, G, T alone) are powers of 1024, decimal ones (kB, MB, GB,
/// TB) powers of 1000; `B` is optional and case does not matter. The result is a whole number of bytes, rounded down.
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    if trimmed.starts_with('-') {
        return Err(format!(
            "'{text}' is negative: give a size of at least 0 bytes, e.g. 512MiB or 2GiB"
        ));
    }
    let split = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let unit = unit.trim().to_ascii_lowercase();
    let scale: u64 = match unit.as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "t" | "tib" => 1 << 40,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        "tb" => 1_000_000_000_000,
        _ => {
            return Err(format!(
                "'{text}' is not a size: expected a number of bytes or a number with a unit, e.g. 512MiB, 2GiB, 1.5GB"
            ))
        }
    };
    let invalid = || format!("'{text}' is not a size: expected a number of bytes or a number with a unit, e.g. 512MiB");
    if number.is_empty() || number.starts_with('.') || number.ends_with('.') || number.matches('.').count() > 1 {
        return Err(invalid());
    }
    let too_large = || format!("'{text}' is larger than 2^64 − 1 bytes");
    match number.split_once('.') {
        None => number
            .parse::<u64>()
            .map_err(|_| too_large())?
            .checked_mul(scale)
            .ok_or_else(too_large),
        Some((whole, fraction)) => {
            // Exact decimal arithmetic: whole·scale + fraction·scale / 10^digits, rounded down.
            let whole = whole.parse::<u64>().map_err(|_| too_large())?;
            let digits = fraction.len().min(18);
            let fraction = fraction[..digits].parse::<u128>().map_err(|_| invalid())?;
            let part = fraction * u128::from(scale) / 10u128.pow(digits as u32);
            let total = u128::from(whole) * u128::from(scale) + part;
            u64::try_from(total).map_err(|_| too_large())
        }
    }
}

/// Seconds in the most readable unit: `812 µs`, `3.40 ms`, `1.20 s`.
pub fn seconds(s: f64) -> String {
    if !s.is_finite() {
        return format!("{s} s");
    }
    if s >= 1.0 {
        format!("{} s", three_digits(s))
    } else if s >= 1e-3 {
        format!("{} ms", three_digits(s * 1e3))
    } else if s >= 1e-6 {
        format!("{} µs", three_digits(s * 1e6))
    } else {
        format!("{} ns", three_digits(s * 1e9))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_read_both_ways() {
        assert_eq!(times(57.9, "fewer", "more"), "57.9× fewer");
        assert_eq!(times(1.0 / 57.9, "fewer", "more"), "57.9× more");
        assert_eq!(times(0.3125, "faster", "slower"), "3.2× slower");
        assert_eq!(times(f64::NAN, "faster", "slower"), "—");
        assert_eq!(printable("a\u{1b}[31mb"), "a\\u{1b}[31mb");
        assert_eq!(printable("conv 1"), "conv 1");
    }

    #[test]
    fn grouping() {
        assert_eq!(group_digits(0), "0");
        assert_eq!(group_digits(999), "999");
        assert_eq!(group_digits(1000), "1,000");
        assert_eq!(group_digits(462_422_016), "462,422,016");
    }

    #[test]
    fn counts_and_rates_have_distinct_units() {
        assert_eq!(flops_count(924_844_032), "925 MFLOPs");
        assert_eq!(flops_rate(4.13e10), "41.3 GFLOP/s");
        assert_eq!(si(52.3e6, "MACs"), "52.3 MMACs");
    }

    #[test]
    fn sizes_parse_like_a_person_writes_them() {
        assert_eq!(parse_bytes("1048576"), Ok(1 << 20));
        assert_eq!(parse_bytes("512MiB"), Ok(512 << 20));
        assert_eq!(parse_bytes("2GiB"), Ok(2 << 30));
        assert_eq!(parse_bytes("2 gib"), Ok(2 << 30));
        assert_eq!(parse_bytes("1.5G"), Ok(3 << 29));
        assert_eq!(parse_bytes("3MB"), Ok(3_000_000));
        assert_eq!(parse_bytes("64k"), Ok(65_536));
        assert_eq!(parse_bytes("0"), Ok(0));
        assert_eq!(
            parse_bytes("16EiB").unwrap_err(),
            "'16EiB' is not a size: expected a number of bytes or a number with a unit, e.g. 512MiB, 2GiB, 1.5GB"
        );
        for bad in ["", "-1", "GiB", "1..5G", ".5G", "5.G", "1e9", "NaN", "x3", "١٢", "1 2"] {
            assert!(parse_bytes(bad).is_err(), "{bad:?}");
        }
        assert!(parse_bytes("18446744073709551616").unwrap_err().contains("larger"));
        assert!(parse_bytes("17179869184GiB").unwrap_err().contains("larger"));
        assert_eq!(parse_bytes("18446744073709551615"), Ok(u64::MAX));
        assert_eq!(bytes_exact(12), "12 bytes");
        assert_eq!(bytes_exact(64 << 30), "64.0 GiB (68,719,476,736 bytes)");
    }

    #[test]
    fn times_and_bytes() {
        assert_eq!(seconds(0.0034), "3.40 ms");
        assert_eq!(seconds(812e-6), "812 µs");
        assert_eq!(bytes(4 << 20), "4.00 MiB");
        assert_eq!(bytes(12), "12 B");
    }
}
