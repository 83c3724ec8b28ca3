//! `${…}` substitution in application arguments.

use super::*;

/// `${…}` in application arguments, as the PBX substitutes them before running the
/// application: `${RAND(min,max)}` and the channel's own variables (Set, Setvar); anything
/// else becomes empty, as an unset variable does.
pub(super) fn substitute(args: &str, chan: &str, channels: &Channels, random: &Random) -> String {
    let mut out = String::new();
    let mut rest = args;
    while let Some(at) = rest.find("${") {
        out.push_str(&rest[..at]);
        let inner = &rest[at + 2..];
        // The matching `}` (functions may nest braces in their arguments).
        let mut depth = 1;
        let mut end = None;
        for (i, ch) in inner.char_indices() {
            match ch {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = Some(i);
                        break;
                    }
                }
                _ => {}
            }
        }
        let Some(end) = end else {
            out.push_str(&rest[at..]);
            return out;
        };
        let expr = substitute(&inner[..end], chan, channels, random);
        out.push_str(&evaluate(&expr, chan, channels, random));
        rest = &inner[end + 1..];
    }
    out.push_str(rest);
    out
}

pub(super) fn evaluate(expr: &str, chan: &str, channels: &Channels, random: &Random) -> String {
    if let Some(range) = expr.strip_prefix("RAND(").and_then(|r| r.strip_suffix(')')) {
        let (lo, hi) = range.split_once(',').unwrap_or((range, ""));
        // Asterisk's RAND: integers, min 0 and max RAND_MAX by default, swapped if reversed.
        let lo: i128 = lo.trim().parse::<i64>().map_or(0, i128::from);
        let hi: i128 = hi
            .trim()
            .parse::<i64>()
            .map_or(i128::from(i32::MAX), i128::from);
        let (lo, hi) = if lo <= hi { (lo, hi) } else { (hi, lo) };
        let span = (hi - lo + 1) as u128;
        return (lo + (u128::from(random.next_u64()) % span) as i128).to_string();
    }
    channels.get_var(chan, expr).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitutes_rand_and_channel_variables() {
        let channels = Channels::default();
        let random = Random::new(Some(1));
        for _ in 0..100 {
            let v = substitute("CALLNUM=${RAND(1,99999)}", "c", &channels, &random);
            let n: u64 = v.strip_prefix("CALLNUM=").unwrap().parse().unwrap();
            assert!((1..=99_999).contains(&n), "{v}");
        }
        assert_eq!(substitute("${RAND(7,7)}", "c", &channels, &random), "7");
        assert_eq!(substitute("${RAND(9,8)}", "c", &channels, &random).len(), 1);
        // The widest range, and input that is not a number, without panicking.
        let wide = "${RAND(-9223372036854775808,9223372036854775807)}";
        assert!(substitute(wide, "c", &channels, &random)
            .parse::<i64>()
            .is_ok());
        assert!(substitute("${RAND(x,y)}", "c", &channels, &random)
            .parse::<i64>()
            .is_ok());
        // Unset variables are empty; an unterminated `${` stays as written.
        assert_eq!(substitute("a${NOPE}b", "c", &channels, &random), "ab");
        assert_eq!(substitute("a${NOPE", "c", &channels, &random), "a${NOPE");
        assert_eq!(substitute("${${NOPE}}x", "c", &channels, &random), "x");
    }
}
