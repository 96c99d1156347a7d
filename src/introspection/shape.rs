//! What an issuer's opaque tokens look like: a cheap test, made before any introspection
//! call, that tells the tokens the issuer could have issued from made-up strings.
//!
//! Every distinct string that reaches introspection costs a call to the issuer; a token that
//! matches a configured shape may use every introspection slot, one that matches none only
//! a share of them (see the introspector), so that a flood of made-up strings cannot take
//! the slots that new tokens of the right shape need.

/// The shape of an issuer's opaque access tokens: an optional prefix, length bounds and the
/// characters after the prefix. A token is of this shape when all three hold.
///
/// ```
/// use bearer_guard::introspection::{Alphabet, OpaqueTokenShape};
///
/// // node-oidc-provider: 43 base64url characters.
/// let oidc_provider = OpaqueTokenShape::new().length(43, 43).alphabet(Alphabet::BASE64URL);
/// // ORY Hydra: `ory_at_`, then two base64url parts joined by a dot.
/// let hydra = OpaqueTokenShape::new()
///     .prefix("ory_at_")
///     .alphabet(Alphabet::BASE64URL.and("."));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct OpaqueTokenShape {
    prefix: Option<String>,
    length: Option<(usize, usize)>,
    alphabet: Option<Alphabet>,
}

impl Default for OpaqueTokenShape {
    fn default() -> Self {
        Self::new()
    }
}

impl OpaqueTokenShape {
    /// A shape that says nothing yet; give it at least a prefix, a length or an alphabet
    /// (a shape every token has is a configuration problem: it would filter nothing).
    pub fn new() -> Self {
        OpaqueTokenShape {
            prefix: None,
            length: None,
            alphabet: None,
        }
    }

    /// The token starts with `prefix` (case-sensitive), such as ORY Hydra's `ory_at_`.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Some(prefix.into());
        self
    }

    /// The token, prefix included, has from `min` to `max` bytes.
    pub fn length(mut self, min: usize, max: usize) -> Self {
        self.length = Some((min, max));
        self
    }

    /// Every character after the prefix is in `alphabet`.
    pub fn alphabet(mut self, alphabet: Alphabet) -> Self {
        self.alphabet = Some(alphabet);
        self
    }

    /// Whether `token` has this shape.
    pub(crate) fn matches(&self, token: &str) -> bool {
        let rest = match &self.prefix {
            Some(prefix) => match token.strip_prefix(prefix.as_str()) {
                Some(rest) => rest,
                None => return false,
            },
            None => token,
        };
        self.length
            .is_none_or(|(min, max)| (min..=max).contains(&token.len()))
            && self
                .alphabet
                .is_none_or(|alphabet| rest.bytes().all(|b| alphabet.contains(b)))
    }

    /// What makes the shape unsound, if anything: it must constrain something, a prefix is
    /// not empty, `min <= max` and `max > 0`, the prefix fits within `max`, the alphabet
    /// has at least one character and only visible ASCII ones.
    pub(crate) fn problem(&self) -> Option<&'static str> {
        if self.prefix.is_none() && self.length.is_none() && self.alphabet.is_none() {
            return Some("it constrains nothing (give a prefix, a length or an alphabet)");
        }
        if self.prefix.as_deref() == Some("") {
            return Some("its prefix is empty");
        }
        if let Some((min, max)) = self.length {
            if min > max {
                return Some("its minimum length exceeds its maximum");
            }
            if max == 0 {
                return Some("its maximum length is zero");
            }
            if self
                .prefix
                .as_ref()
                .is_some_and(|prefix| prefix.len() > max)
            {
                return Some("its prefix is longer than its maximum length");
            }
        }
        match self.alphabet {
            Some(alphabet) if alphabet.invalid => {
                Some("its alphabet has a character that is not visible ASCII")
            }
            Some(alphabet) if alphabet.chars == 0 => Some("its alphabet is empty"),
            _ => None,
        }
    }
}

/// A set of visible ASCII characters (`!` to `~`), the characters a token may have after
/// its prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Alphabet {
    /// Bit `b` set: the byte `b` is in the set.
    chars: u128,
    /// A character outside visible ASCII was given (a configuration problem).
    invalid: bool,
}

impl Alphabet {
    /// `A`–`Z`, `a`–`z`, `0`–`9`, `-`, `_` (RFC 4648 §5).
    pub const BASE64URL: Alphabet =
        Alphabet::from_ranges(&[(b'A', b'Z'), (b'a', b'z'), (b'0', b'9')])
            .with_byte(b'-')
            .with_byte(b'_');
    /// `0`–`9`, `a`–`f`, `A`–`F`.
    pub const HEX: Alphabet = Alphabet::from_ranges(&[(b'0', b'9'), (b'a', b'f'), (b'A', b'F')]);
    /// `A`–`Z`, `a`–`z`, `0`–`9`.
    pub const ALPHANUMERIC: Alphabet =
        Alphabet::from_ranges(&[(b'A', b'Z'), (b'a', b'z'), (b'0', b'9')]);

    /// Exactly the characters of `chars`.
    pub fn of(chars: &str) -> Alphabet {
        Alphabet {
            chars: 0,
            invalid: false,
        }
        .and(chars)
    }

    /// This set and the characters of `chars`.
    pub fn and(mut self, chars: &str) -> Alphabet {
        for c in chars.chars() {
            match u8::try_from(c) {
                Ok(b) if b.is_ascii_graphic() => self = self.with_byte(b),
                _ => self.invalid = true,
            }
        }
        self
    }

    const fn from_ranges(ranges: &[(u8, u8)]) -> Alphabet {
        let mut set = Alphabet {
            chars: 0,
            invalid: false,
        };
        let mut i = 0;
        while i < ranges.len() {
            let (mut b, last) = ranges[i];
            while b <= last {
                set = set.with_byte(b);
                b += 1;
            }
            i += 1;
        }
        set
    }

    const fn with_byte(mut self, b: u8) -> Alphabet {
        self.chars |= 1 << b;
        self
    }

    fn contains(self, b: u8) -> bool {
        b < 128 && self.chars & (1 << b) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_has_the_shape_when_prefix_length_and_alphabet_all_hold() {
        let hydra = OpaqueTokenShape::new()
            .prefix("ory_at_")
            .length(20, 200)
            .alphabet(Alphabet::BASE64URL.and("."));
        assert!(hydra.matches("ory_at_abcdefghij.KLMNOP-_"));
        assert!(!hydra.matches("ory_rt_abcdefghij.KLMNOP-_"), "prefix");
        assert!(!hydra.matches("ory_at_abc"), "too short");
        assert!(!hydra.matches("ory_at_abcdefghij KLMNOP"), "a space");
        assert!(!hydra.matches("ory_at_abcdefghijé.KLMNOP"), "non-ASCII");
        let fixed = OpaqueTokenShape::new().length(4, 4).alphabet(Alphabet::HEX);
        assert!(fixed.matches("0aF9"));
        assert!(!fixed.matches("0aG9"));
        assert!(!fixed.matches("0aF"));
        assert_eq!(hydra.problem(), None);
    }

    #[test]
    fn unsound_shapes_are_named() {
        let problems = [
            (OpaqueTokenShape::new(), "constrains nothing"),
            (OpaqueTokenShape::new().prefix(""), "prefix is empty"),
            (OpaqueTokenShape::new().length(5, 4), "minimum length"),
            (
                OpaqueTokenShape::new().length(0, 0),
                "maximum length is zero",
            ),
            (
                OpaqueTokenShape::new().prefix("long_prefix").length(1, 4),
                "prefix is longer",
            ),
            (
                OpaqueTokenShape::new().alphabet(Alphabet::of("")),
                "alphabet is empty",
            ),
            (
                OpaqueTokenShape::new().alphabet(Alphabet::of("ab é")),
                "not visible ASCII",
            ),
        ];
        for (shape, expected) in problems {
            let problem = shape.problem().unwrap_or_default();
            assert!(problem.contains(expected), "{shape:?}: {problem}");
        }
    }
}
