//! `auth.role_claim`: where in a token's claims the role is, in PostgREST's `jwt-role-claim-key`
//! syntax, so that one value means the same claim to PostgREST (which switches to that role) and
//! to us (which checks it against `auth.allowed_roles` and returns it from `auth.role()`).
//!
//! ```text
//! role                      the top-level member "role" (a value without a leading dot names
//!                           one top-level member literally, as before paths were supported)
//! .role                     the same member
//! .app_metadata.role        a nested member
//! ."https://example.com/role"   a member whose name needs quotes (any characters but ")
//! .roles[0]                 the first element of the array "roles"
//! ```
//!
//! Grammar of a path (PostgREST's `pRoleClaimKey`): one or more `.key` steps, each optionally
//! followed by one `[index]`; a key is one or more letters, digits, `_`, `$`, `@`, or a quoted
//! name. PostgREST 12's filter expressions (`[?(@ == "x")]`) are not supported and are refused,
//! like anything else that does not parse: a value that silently selected nothing would leave
//! `auth.allowed_roles` unenforced while PostgREST switched to whatever role the token names.

use serde_json::{Map, Value};
use std::fmt;

/// Array indexes above this are refused: no claims set holds that many roles, and a bound keeps
/// the parser free of overflow.
pub const MAX_ROLE_CLAIM_INDEX: usize = 1 << 20;

/// One step of a path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RoleClaimStep {
    /// An object member, by exact name.
    Key(String),
    /// An array element, from 0.
    Index(usize),
}

/// A parsed `auth.role_claim`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleClaim {
    steps: Vec<RoleClaimStep>,
}

/// Why a value of `auth.role_claim` was refused; the text says where and what was expected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RoleClaimError {
    #[error("auth.role_claim is empty")]
    Empty,
    #[error("expected a member name at position {0} (letters, digits, _ $ @, or a quoted name)")]
    ExpectedKey(usize),
    #[error("the quoted name that starts at position {0} has no closing quote")]
    UnclosedQuote(usize),
    #[error("expected an array index [0..{max}] at position {0}", max = MAX_ROLE_CLAIM_INDEX)]
    BadIndex(usize),
    #[error("filter expressions ([?(...)]) are not supported (position {0})")]
    Filter(usize),
    #[error("unexpected character at position {0}: expected \".\" or \"[\"")]
    Unexpected(usize),
}

impl Default for RoleClaim {
    /// The top-level member `role`, the default of `auth.role_claim`.
    fn default() -> RoleClaim {
        RoleClaim {
            steps: vec![RoleClaimStep::Key("role".to_owned())],
        }
    }
}

fn key_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '$' | '@')
}

impl RoleClaim {
    /// Parse a value of `auth.role_claim`. Positions in errors count characters from 1.
    pub fn parse(text: &str) -> Result<RoleClaim, RoleClaimError> {
        if text.is_empty() {
            return Err(RoleClaimError::Empty);
        }
        if !text.starts_with('.') {
            return Ok(RoleClaim {
                steps: vec![RoleClaimStep::Key(text.to_owned())],
            });
        }
        let chars: Vec<char> = text.chars().collect();
        let mut steps = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            // Every step starts with a period (the first one is there: checked above).
            if chars[i] != '.' {
                return Err(RoleClaimError::Unexpected(i + 1));
            }
            i += 1;
            match chars.get(i) {
                Some('"') => {
                    let start = i;
                    let len = chars[i + 1..]
                        .iter()
                        .position(|&c| c == '"')
                        .ok_or(RoleClaimError::UnclosedQuote(start + 1))?;
                    steps.push(RoleClaimStep::Key(
                        chars[i + 1..i + 1 + len].iter().collect(),
                    ));
                    i += len + 2;
                }
                Some(&c) if key_char(c) => {
                    let len = chars[i..].iter().take_while(|&&c| key_char(c)).count();
                    steps.push(RoleClaimStep::Key(chars[i..i + len].iter().collect()));
                    i += len;
                }
                _ => return Err(RoleClaimError::ExpectedKey(i + 1)),
            }
            if chars.get(i) == Some(&'[') {
                let start = i;
                if chars.get(i + 1) == Some(&'?') {
                    return Err(RoleClaimError::Filter(start + 1));
                }
                let digits = chars[i + 1..]
                    .iter()
                    .take_while(|c| c.is_ascii_digit())
                    .count();
                let index = (digits > 0 && digits <= 7 && chars.get(i + 1 + digits) == Some(&']'))
                    .then(|| chars[i + 1..i + 1 + digits].iter().collect::<String>())
                    .and_then(|d| d.parse::<usize>().ok())
                    .filter(|&n| n <= MAX_ROLE_CLAIM_INDEX)
                    .ok_or(RoleClaimError::BadIndex(start + 1))?;
                steps.push(RoleClaimStep::Index(index));
                i += digits + 2;
            }
        }
        Ok(RoleClaim { steps })
    }

    pub fn steps(&self) -> &[RoleClaimStep] {
        &self.steps
    }

    /// The value at this path in `claims`, if every step finds an object member or an array
    /// element (a step into anything else finds nothing, as in PostgREST).
    pub fn select<'a>(&self, claims: &'a Map<String, Value>) -> Option<&'a Value> {
        let (first, rest) = self.steps.split_first()?;
        let mut value = match first {
            RoleClaimStep::Key(k) => claims.get(k)?,
            RoleClaimStep::Index(_) => return None,
        };
        for step in rest {
            value = match (step, value) {
                (RoleClaimStep::Key(k), Value::Object(o)) => o.get(k)?,
                (RoleClaimStep::Index(n), Value::Array(a)) => a.get(*n)?,
                _ => return None,
            };
        }
        Some(value)
    }
}

impl fmt::Display for RoleClaim {
    /// The value parsed: a plain top-level name as it was, else the path in the dotted syntax
    /// with every key quoted. Parsing it gives the same path back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let [RoleClaimStep::Key(k)] = self.steps.as_slice() {
            if !k.is_empty() && !k.starts_with('.') {
                return f.write_str(k);
            }
        }
        for step in &self.steps {
            match step {
                RoleClaimStep::Key(k) => write!(f, ".\"{k}\"")?,
                RoleClaimStep::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use RoleClaimStep::{Index, Key};

    fn key(k: &str) -> RoleClaimStep {
        Key(k.to_owned())
    }

    fn steps(text: &str) -> Vec<RoleClaimStep> {
        RoleClaim::parse(text).unwrap().steps
    }

    #[test]
    fn postgrest_syntax() {
        assert_eq!(steps("role"), [key("role")]);
        assert_eq!(steps(".role"), [key("role")]);
        assert_eq!(
            steps(".app_metadata.role"),
            [key("app_metadata"), key("role")]
        );
        assert_eq!(
            steps(".\"https://example.com/role\""),
            [key("https://example.com/role")]
        );
        assert_eq!(steps(".roles[0]"), [key("roles"), Index(0)]);
        assert_eq!(
            steps(".a[12].\"b c\".$x@_9"),
            [key("a"), Index(12), key("b c"), key("$x@_9")]
        );
        assert_eq!(steps(".\"\""), [key("")]);
        assert_eq!(steps(".r\u{f4}le"), [key("r\u{f4}le")]);
        // A plain value is one top-level name, whatever it holds.
        assert_eq!(
            steps("https://example.com/role"),
            [key("https://example.com/role")]
        );
        assert_eq!(RoleClaim::parse("role"), Ok(RoleClaim::default()));
    }

    #[test]
    fn refused() {
        use RoleClaimError::*;
        for (text, why) in [
            ("", Empty),
            (".", ExpectedKey(2)),
            ("..role", ExpectedKey(2)),
            (".role.", ExpectedKey(7)),
            (".a-b", Unexpected(3)),
            (".a b", Unexpected(3)),
            (".role ", Unexpected(6)),
            (".\"role", UnclosedQuote(2)),
            (".roles[", BadIndex(7)),
            (".roles[]", BadIndex(7)),
            (".roles[-1]", BadIndex(7)),
            (".roles[1", BadIndex(7)),
            (".roles[x]", BadIndex(7)),
            (".roles[0][1]", Unexpected(10)),
            (".roles[99999999]", BadIndex(7)),
            (".roles[1048577]", BadIndex(7)),
            (".roles[?(@ == \"admin\")]", Filter(7)),
            (".[0]", ExpectedKey(2)),
            (".a\"b\"", Unexpected(3)),
        ] {
            assert_eq!(RoleClaim::parse(text), Err(why.clone()), "{text:?}");
            assert!(!why.to_string().is_empty());
        }
        assert!(RoleClaim::parse(".roles[1048576]").is_ok());
    }

    #[test]
    fn selects() {
        let claims = json!({
            "role": "anon",
            "app_metadata": {"role": "postgres", "roles": ["a", "b"]},
            "https://example.com/role": "editor",
            "roles": ["first", {"x": "y"}],
            "s": "text",
        });
        let claims = claims.as_object().unwrap();
        let at = |p: &str| RoleClaim::parse(p).unwrap().select(claims).cloned();
        assert_eq!(at("role"), Some(json!("anon")));
        assert_eq!(at(".role"), Some(json!("anon")));
        assert_eq!(at(".app_metadata.role"), Some(json!("postgres")));
        assert_eq!(at(".app_metadata.roles[1]"), Some(json!("b")));
        assert_eq!(at(".\"https://example.com/role\""), Some(json!("editor")));
        assert_eq!(at("https://example.com/role"), Some(json!("editor")));
        assert_eq!(at(".roles[0]"), Some(json!("first")));
        assert_eq!(at(".roles[1].x"), Some(json!("y")));
        assert_eq!(at(".roles[2]"), None);
        assert_eq!(at(".role[0]"), None);
        assert_eq!(at(".s.x"), None);
        assert_eq!(at(".app_metadata[0]"), None);
        assert_eq!(at(".missing.role"), None);
    }

    #[test]
    fn display_round_trips() {
        for text in [
            "role",
            ".app_metadata.role",
            ".\"https://example.com/role\"",
            ".roles[3].x",
            ".\"\"",
            "a.b[0]",
            "a\"b",
        ] {
            let p = RoleClaim::parse(text).unwrap();
            assert_eq!(RoleClaim::parse(&p.to_string()), Ok(p.clone()), "{text}");
        }
    }
}
