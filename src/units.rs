//! Formatting of counts, rates, times and bytes. Counts and rates never share a unit name: `GFLOPs` is a count,
//! `GFLOP/s` a rate.

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

/// A count of floating-point operations, e.g. `0.925 GFLOPs`.
pub fn flops_count(flops: u64) -> String {
    si(flops as f64, "FLOPs")
}

/// A rate of floating-point operations, e.g. `41.3 GFLOP/s`.
pub fn flops_rate(flops_per_s: f64) -> String {
    si(flops_per_s, "FLOP/s")
}

/// Bytes with binary prefixes: `4.0 MiB`.
pub fn bytes(n: u64) -> String {
    const PREFIXES: [(u64, &str); 4] = [(1 << 40, "TiB"), (1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    for (scale, prefix) in PREFIXES {
        if n >= scale {
            return format!("{} {prefix}", three_digits(n as f64 / scale as f64));
        }
    }
    format!("{n} B")
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
    fn times_and_bytes() {
        assert_eq!(seconds(0.0034), "3.40 ms");
        assert_eq!(seconds(812e-6), "812 µs");
        assert_eq!(bytes(4 << 20), "4.00 MiB");
        assert_eq!(bytes(12), "12 B");
    }
}
