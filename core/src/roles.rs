//! Role lists (`auth.allowed_roles`, `auth.elevated_roles`), parsed by this one function for
//! every reader — token verification, `pre_request`, and `auth.create_api_key` through the
//! extension's `auth_private._role_allowed` / `_role_elevated` — so that no two parts of the
//! extension can disagree about what a setting holds.
//!
//! The text is split at commas; each entry is trimmed of white space and empty entries are
//! dropped (`"anon, authenticated,"` holds two roles). Names compare exactly, case included, as
//! a token's role claim names a PostgreSQL role exactly.

/// The default of `auth.allowed_roles`.
pub const DEFAULT_ALLOWED_ROLES: &str = "anon,authenticated,service_role";
/// The default of `auth.elevated_roles`.
pub const DEFAULT_ELEVATED_ROLES: &str = "service_role";

/// A parsed role list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RoleList(Vec<String>);

impl RoleList {
    pub fn parse(text: &str) -> RoleList {
        RoleList(
            text.split(',')
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .map(str::to_owned)
                .collect(),
        )
    }

    pub fn contains(&self, role: &str) -> bool {
        self.0.iter().any(|r| r == role)
    }

    pub fn roles(&self) -> &[String] {
        &self.0
    }
}

impl<S: Into<String>> FromIterator<S> for RoleList {
    fn from_iter<I: IntoIterator<Item = S>>(iter: I) -> RoleList {
        RoleList(iter.into_iter().map(Into::into).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        let l = RoleList::parse(" anon,\tauthenticated ,, service_role,");
        assert_eq!(l.roles(), ["anon", "authenticated", "service_role"]);
        assert!(l.contains("anon") && !l.contains("Anon") && !l.contains(""));
        assert_eq!(RoleList::parse(""), RoleList::default());
        assert_eq!(RoleList::parse(" , ").roles(), [] as [String; 0]);
        // An inner space is part of a name (a quoted PostgreSQL role may hold one).
        assert!(RoleList::parse("web user").contains("web user"));
        assert_eq!(
            RoleList::parse(DEFAULT_ALLOWED_ROLES),
            ["anon", "authenticated", "service_role"]
                .into_iter()
                .collect()
        );
        assert!(RoleList::parse(DEFAULT_ELEVATED_ROLES).contains("service_role"));
    }
}
