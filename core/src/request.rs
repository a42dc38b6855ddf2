//! PostgREST's request headers and the `db-pre-request` decision (`auth.pre_request()`), without
//! a server: the extension supplies the header text and verifies the credentials it is handed
//! (API-key table, signing keys, counters); every rule about what to accept is here.
//!
//! Headers: PostgREST sets `request.headers` per request to a JSON object of lower-cased header
//! names. Anyone can also write it with `set_config`, so it is read as untrusted input: a JSON
//! object without duplicate member names whose values are strings, and a header name that
//! matches more than one member case-insensitively is refused — otherwise `pre_request` could
//! check one `authorization` while `auth.claims()` reads another.
//!
//! The browser rule: a request from a browser must not reach an elevated role by any credential
//! it carries — a secret API key (elevated whatever role it maps to), an API key of any kind
//! whose role is in `auth.elevated_roles` (the legacy `service_role` JWT among them), or a bearer
//! token whose role claim (`auth.role_claim`) names one, or that is the legacy `service_role`
//! key. A browser is where keys leak from (page source, extensions, shared devices); the
//! role the request would run as is what matters, not the header a credential came in.
//!
//! The role: a request whose only credential is its API key (no `authorization` header, or the
//! key repeated as the bearer token) runs as the key's role, which `auth.pre_request()` makes
//! the transaction's role; it must be one of `auth.allowed_roles`. With a bearer token, PostgREST
//! already switched to the token's role and the key only gates access.

use serde_json::{Map, Value};

use crate::roles::RoleList;

/// The headers of one request.
pub struct Headers(Map<String, Value>);

impl Headers {
    /// Parse the text of `request.headers`.
    pub fn parse(raw: &str) -> Result<Headers, &'static str> {
        crate::json::parse_object(raw.as_bytes())
            .map(Headers)
            .map_err(|_| "request.headers is not a JSON object of unique names")
    }

    /// The value of header `name` (any case), if present once as a string; else why not.
    pub fn get(&self, name: &str) -> Result<Option<&str>, &'static str> {
        let mut found = None;
        for (key, value) in &self.0 {
            if key.eq_ignore_ascii_case(name) {
                if found.is_some() {
                    return Err("a header is given twice");
                }
                found = Some(value.as_str().ok_or("a header value is not a string")?);
            }
        }
        Ok(found)
    }

    /// Is there a header whose name starts with `prefix` (any case)?
    pub fn any_with_prefix(&self, prefix: &str) -> bool {
        self.0.keys().any(|k| {
            k.get(..prefix.len())
                .is_some_and(|start| start.eq_ignore_ascii_case(prefix))
        })
    }

    /// The token of an `authorization: Bearer <token>` header: None without the header, an
    /// error when it is not a bearer token.
    pub fn bearer(&self) -> Result<Option<&str>, &'static str> {
        let Some(authorization) = self.get("authorization")? else {
            return Ok(None);
        };
        authorization
            .trim()
            .split_once(' ')
            .filter(|(scheme, token)| scheme.eq_ignore_ascii_case("bearer") && !token.is_empty())
            .map(|(_, token)| Some(token.trim()))
            .ok_or("expected: Bearer <token>")
    }
}

/// A request made by a web browser: browsers send `Origin` on cross-origin requests and the
/// `Sec-Fetch-*` metadata headers on every request, and identify as `Mozilla/…`.
pub fn from_browser(headers: &Headers) -> Result<bool, &'static str> {
    Ok(headers.get("origin")?.is_some()
        || headers.any_with_prefix("sec-fetch-")
        || headers
            .get("user-agent")?
            .is_some_and(|ua| ua.starts_with("Mozilla/")))
}

/// What a verified credential lets the request do.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Identity {
    /// A secret API key: never for browsers, whatever role it maps to.
    pub secret_key: bool,
    /// The roles the credential reaches: an API key's role; a token's role claim, and the role
    /// of the legacy API key it is, if it is one.
    pub roles: Vec<String>,
}

impl Identity {
    /// The first role of this identity in `elevated`.
    fn elevated_role<'a>(&'a self, elevated: &RoleList) -> Option<&'a str> {
        self.roles
            .iter()
            .map(String::as_str)
            .find(|r| elevated.contains(r))
    }
}

/// The two credentials of a request, as the server checks them.
pub trait Credential {
    /// An infrastructure failure (not a refusal of the credential); `pre_request` returns it.
    type Error;
    /// Check the `apikey` header's key: who it is, or why it is refused.
    fn api_key(&mut self, key: &str) -> Result<Result<Identity, String>, Self::Error>;
    /// Check a bearer token (one that is not the API key itself): who it is, or why refused.
    fn bearer(&mut self, token: &str) -> Result<Result<Identity, String>, Self::Error>;
}

/// What `pre_request` decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Refuse the request (PostgREST answers HTTP 401).
    Refuse(Refusal),
    /// Let it proceed; `switch_to` is the API key's role for a request whose only credential is
    /// that key (the transaction's role becomes it), None when a bearer token decides the role.
    Proceed { switch_to: Option<String> },
}

impl Decision {
    /// The refusal, if refused.
    pub fn refusal(&self) -> Option<&Refusal> {
        match self {
            Decision::Refuse(r) => Some(r),
            Decision::Proceed { .. } => None,
        }
    }
}

/// The role settings a request is decided under.
pub struct RequestRoles<'a> {
    /// `auth.elevated_roles`: no browser request may reach one.
    pub elevated: &'a RoleList,
    /// `auth.allowed_roles`: the only roles an API key may switch the transaction to.
    pub allowed: &'a RoleList,
}

/// A refused request: message, detail and hint for the client (PostgREST's HTTP 401 body).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub message: &'static str,
    pub detail: String,
    pub hint: Option<&'static str>,
}

impl Refusal {
    fn new(message: &'static str, detail: impl Into<String>) -> Refusal {
        Refusal {
            message,
            detail: detail.into(),
            hint: None,
        }
    }

    fn hint(mut self, hint: &'static str) -> Refusal {
        self.hint = Some(hint);
        self
    }
}

fn malformed(why: &'static str) -> Refusal {
    Refusal::new("malformed request headers", why)
}

const BROWSER: &str =
    "the request carries browser headers (origin, sec-fetch-*, or a browser user agent)";
const BROWSER_HINT: &str = "use a publishable key in browsers; keep secret keys on servers";

/// Whether this request may proceed, and as which role. `headers` is the text of
/// `request.headers` (None when unset or empty).
///
/// In order: the `apikey` header must hold a valid key; the `authorization` header, when
/// present, must be `Bearer <token>` with a valid token or the API key itself; and no credential
/// may reach an elevated role from a browser. Each credential meets the browser rule as soon as
/// it is known good, so an elevated API key from a browser is refused before a token is checked.
/// Without a bearer token, the key's role must be one of `auth.allowed_roles`.
pub fn pre_request<C: Credential>(
    headers: Option<&str>,
    roles: &RequestRoles,
    credentials: &mut C,
) -> Result<Decision, C::Error> {
    Ok(match decide(headers, roles, credentials)? {
        Ok(switch_to) => Decision::Proceed { switch_to },
        Err(refusal) => Decision::Refuse(refusal),
    })
}

/// `pre_request`'s decision: Ok(the role to switch to, if any) or Err(the refusal).
fn decide<C: Credential>(
    headers: Option<&str>,
    roles: &RequestRoles,
    credentials: &mut C,
) -> Result<Result<Option<String>, Refusal>, C::Error> {
    let elevated = roles.elevated;
    let Some(raw) = headers else {
        return Ok(Err(Refusal::new(
            "missing api key",
            "request.headers is not set",
        )
        .hint("send the API key in the apikey header")));
    };
    let headers = match Headers::parse(raw) {
        Ok(h) => h,
        Err(why) => return Ok(Err(malformed(why))),
    };
    let apikey = match headers.get("apikey") {
        Ok(Some(key)) => key,
        Ok(None) => {
            return Ok(Err(Refusal::new(
                "missing api key",
                "the apikey header is missing",
            )
            .hint("send a publishable or secret API key in the apikey header")))
        }
        Err(why) => return Ok(Err(malformed(why))),
    };
    let key = match credentials.api_key(apikey)? {
        Ok(identity) => identity,
        Err(why) => return Ok(Err(Refusal::new("invalid api key", why))),
    };
    let browser = match from_browser(&headers) {
        Ok(browser) => browser,
        Err(why) => return Ok(Err(malformed(why))),
    };
    if browser {
        if key.secret_key {
            return Ok(Err(Refusal::new(
                "secret api keys cannot be used in a browser",
                BROWSER,
            )
            .hint(BROWSER_HINT)));
        }
        if let Some(role) = key.elevated_role(elevated) {
            return Ok(Err(Refusal::new(
                "api keys for elevated roles cannot be used in a browser",
                format!("the api key's role \"{role}\" is in auth.elevated_roles, and {BROWSER}"),
            )
            .hint(BROWSER_HINT)));
        }
    }
    let token = match headers.bearer() {
        Ok(token) => token,
        Err(why) => return Ok(Err(Refusal::new("invalid authorization header", why))),
    };
    // The API key repeated as the bearer token is the same credential, checked above.
    let Some(token) = token.filter(|t| *t != apikey) else {
        // The key is the only credential: the request runs as its role.
        let Some(role) = key.roles.first() else {
            return Ok(Ok(None));
        };
        if !roles.allowed.contains(role) {
            return Ok(Err(Refusal::new(
                "api key role not allowed",
                format!("the api key's role \"{role}\" is not in auth.allowed_roles"),
            )
            .hint(
                "map the key to one of auth.allowed_roles, or add its role there",
            )));
        }
        return Ok(Ok(Some(role.clone())));
    };
    let bearer = match credentials.bearer(token)? {
        Ok(identity) => identity,
        Err(why) => return Ok(Err(Refusal::new("invalid jwt", why))),
    };
    if browser {
        if let Some(role) = bearer.elevated_role(elevated) {
            return Ok(Err(
                Refusal::new(
                    "tokens for elevated roles cannot be used in a browser",
                    format!("the bearer token's role \"{role}\" is in auth.elevated_roles, and {BROWSER}"),
                )
                .hint("in browsers, send a publishable key and user tokens; keep elevated credentials on servers"),
            ));
        }
    }
    Ok(Ok(None))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::roles::DEFAULT_ELEVATED_ROLES;

    #[test]
    fn strict_headers() {
        let h = Headers::parse(r#"{"apikey":"k","Authorization":"Bearer t"}"#).unwrap();
        assert_eq!(h.get("APIKEY"), Ok(Some("k")));
        assert_eq!(h.bearer(), Ok(Some("t")));
        assert_eq!(h.get("origin"), Ok(None));
        let twice =
            Headers::parse(r#"{"Authorization":"Bearer a","authorization":"Bearer b"}"#).unwrap();
        assert!(twice.bearer().is_err());
        assert!(Headers::parse(r#"{"authorization":5}"#)
            .unwrap()
            .bearer()
            .is_err());
        assert!(Headers::parse(r#"{"a":"x","a":"y"}"#).is_err());
        assert!(Headers::parse("[]").is_err());
        assert!(Headers::parse(r#"{"authorization":"Basic eA=="}"#)
            .unwrap()
            .bearer()
            .is_err());
        assert!(Headers::parse(r#"{"Sec-Fetch-Mode":"cors"}"#)
            .unwrap()
            .any_with_prefix("sec-fetch-"));
        assert_eq!(
            Headers::parse(r#"{"authorization":"  bearer   t  "}"#)
                .unwrap()
                .bearer(),
            Ok(Some("t"))
        );
    }

    #[test]
    fn browsers() {
        let b = |raw: &str| from_browser(&Headers::parse(raw).unwrap());
        assert_eq!(b(r#"{"origin":"https://app.example"}"#), Ok(true));
        assert_eq!(b(r#"{"Sec-Fetch-Site":"same-origin"}"#), Ok(true));
        assert_eq!(b(r#"{"user-agent":"Mozilla/5.0 (X11)"}"#), Ok(true));
        assert_eq!(b(r#"{"user-agent":"curl/8.5.0"}"#), Ok(false));
        assert_eq!(b(r#"{"accept":"*/*"}"#), Ok(false));
        assert!(b(r#"{"origin":null}"#).is_err());
        assert!(b(r#"{"user-agent":["Mozilla/5.0"]}"#).is_err());
    }

    /// Credentials as a fixed table: "sk" secret key, "pk" publishable (anon), "legacy-sr" the
    /// legacy service_role key, "pk-admin" a publishable key mapped to role admin; tokens name
    /// their roles ("jwt:a,b"), "legacy-sr" is also a valid token.
    struct Fake {
        bearer_calls: usize,
    }

    fn id(secret_key: bool, roles: &[&str]) -> Identity {
        Identity {
            secret_key,
            roles: roles.iter().map(|r| r.to_string()).collect(),
        }
    }

    impl Credential for Fake {
        type Error = &'static str;
        fn api_key(&mut self, key: &str) -> Result<Result<Identity, String>, &'static str> {
            Ok(match key {
                "sk" => Ok(id(true, &["service_role"])),
                "sk-user" => Ok(id(true, &["authenticated"])),
                "pk" => Ok(id(false, &["anon"])),
                "pk-admin" => Ok(id(false, &["admin"])),
                "legacy-sr" => Ok(id(false, &["service_role"])),
                "broken" => return Err("the key table is unreadable"),
                _ => Err("unknown api key".into()),
            })
        }
        fn bearer(&mut self, token: &str) -> Result<Result<Identity, String>, &'static str> {
            self.bearer_calls += 1;
            if token == "legacy-sr" {
                return Ok(Ok(id(false, &["service_role"])));
            }
            Ok(match token.strip_prefix("jwt:") {
                Some(roles) => Ok(id(false, &roles.split(',').collect::<Vec<_>>())),
                None => Err("bad signature".into()),
            })
        }
    }

    /// The roles the fake keys map to are all allowed.
    const ALLOWED: &str = "anon, authenticated, service_role, admin";

    fn decide(headers: serde_json::Value, elevated: &str, allowed: &str) -> Decision {
        let raw = headers.to_string();
        let (elevated, allowed) = (RoleList::parse(elevated), RoleList::parse(allowed));
        let roles = RequestRoles {
            elevated: &elevated,
            allowed: &allowed,
        };
        pre_request(Some(&raw), &roles, &mut Fake { bearer_calls: 0 }).unwrap()
    }

    fn check(headers: serde_json::Value, elevated: &str) -> Result<Option<Refusal>, &'static str> {
        let raw = headers.to_string();
        let (elevated, allowed) = (RoleList::parse(elevated), RoleList::parse(ALLOWED));
        let roles = RequestRoles {
            elevated: &elevated,
            allowed: &allowed,
        };
        pre_request(Some(&raw), &roles, &mut Fake { bearer_calls: 0 }).map(|d| d.refusal().cloned())
    }

    fn default_roles() -> (RoleList, RoleList) {
        (RoleList::default(), RoleList::parse(ALLOWED))
    }

    fn message(headers: serde_json::Value) -> Option<&'static str> {
        check(headers, DEFAULT_ELEVATED_ROLES)
            .unwrap()
            .map(|r| r.message)
    }

    const SECRET: &str = "secret api keys cannot be used in a browser";
    const ELEVATED_KEY: &str = "api keys for elevated roles cannot be used in a browser";
    const ELEVATED_TOKEN: &str = "tokens for elevated roles cannot be used in a browser";

    #[test]
    fn keys_and_tokens() {
        use serde_json::json;
        let (elevated, allowed) = default_roles();
        let roles = RequestRoles {
            elevated: &elevated,
            allowed: &allowed,
        };
        assert_eq!(
            pre_request(None, &roles, &mut Fake { bearer_calls: 0 })
                .unwrap()
                .refusal()
                .unwrap()
                .message,
            "missing api key"
        );
        assert_eq!(message(json!({"accept": "*/*"})), Some("missing api key"));
        assert_eq!(message(json!({"apikey": "nope"})), Some("invalid api key"));
        assert_eq!(
            message(json!({"apikey": 5})),
            Some("malformed request headers")
        );
        assert_eq!(message(json!({"apikey": "pk"})), None);
        assert_eq!(message(json!({"apikey": "sk"})), None);
        assert_eq!(
            message(json!({"apikey": "pk", "authorization": "Bearer jwt:authenticated"})),
            None
        );
        assert_eq!(
            message(json!({"apikey": "pk", "authorization": "Bearer forged"})),
            Some("invalid jwt")
        );
        assert_eq!(
            message(json!({"apikey": "pk", "authorization": "Basic eA=="})),
            Some("invalid authorization header")
        );
        // An infrastructure error is returned, never turned into an answer.
        assert_eq!(
            check(json!({"apikey": "broken"}), "service_role"),
            Err("the key table is unreadable")
        );
        // The API key repeated as the bearer token is not checked as a token again.
        let mut fake = Fake { bearer_calls: 0 };
        let raw = json!({"apikey": "pk", "authorization": "Bearer pk"}).to_string();
        assert_eq!(
            pre_request(Some(&raw), &roles, &mut fake),
            Ok(Decision::Proceed {
                switch_to: Some("anon".into())
            })
        );
        assert_eq!(fake.bearer_calls, 0);
    }

    #[test]
    fn a_key_alone_switches_to_its_role() {
        use serde_json::json;
        let switch = |headers: serde_json::Value, allowed: &str| match decide(
            headers,
            DEFAULT_ELEVATED_ROLES,
            allowed,
        ) {
            Decision::Proceed { switch_to } => Ok(switch_to),
            Decision::Refuse(r) => Err(r.message),
        };
        let to = |role: &str| Ok(Some(role.to_string()));
        assert_eq!(switch(json!({"apikey": "sk"}), ALLOWED), to("service_role"));
        assert_eq!(switch(json!({"apikey": "pk"}), ALLOWED), to("anon"));
        assert_eq!(switch(json!({"apikey": "pk-admin"}), ALLOWED), to("admin"));
        assert_eq!(
            switch(json!({"apikey": "legacy-sr"}), ALLOWED),
            to("service_role")
        );
        assert_eq!(
            switch(
                json!({"apikey": "sk", "authorization": "Bearer sk"}),
                ALLOWED
            ),
            to("service_role")
        );
        // A bearer token decides the role (PostgREST switched to it): nothing to switch.
        assert_eq!(
            switch(
                json!({"apikey": "sk", "authorization": "Bearer jwt:authenticated"}),
                ALLOWED
            ),
            Ok(None)
        );
        // Never a role outside auth.allowed_roles, even when the key maps to it.
        assert_eq!(
            switch(json!({"apikey": "pk-admin"}), "anon, service_role"),
            Err("api key role not allowed")
        );
        assert_eq!(
            switch(json!({"apikey": "sk"}), ""),
            Err("api key role not allowed")
        );
        // With a token, the key only gates access: its role is not reached.
        assert_eq!(
            switch(
                json!({"apikey": "pk-admin", "authorization": "Bearer jwt:authenticated"}),
                "anon, authenticated"
            ),
            Ok(None)
        );
        // The browser rule still comes first.
        assert_eq!(
            switch(
                json!({"apikey": "sk", "origin": "https://a.example"}),
                ALLOWED
            ),
            Err(SECRET)
        );
    }

    #[test]
    fn browser_rule_covers_every_credential() {
        use serde_json::json;
        let origin = "https://app.example";
        // From a server, every credential shape passes.
        for (apikey, bearer) in [
            ("sk", None),
            ("sk-user", None),
            ("legacy-sr", None),
            ("pk-admin", None),
            ("pk", Some("Bearer legacy-sr")),
            ("pk", Some("Bearer jwt:service_role")),
            ("pk", Some("Bearer jwt:authenticated,service_role")),
        ] {
            let mut h = json!({"apikey": apikey, "user-agent": "curl/8.5.0"});
            if let Some(b) = bearer {
                h["authorization"] = json!(b);
            }
            assert_eq!(message(h), None, "{apikey} {bearer:?}");
        }
        // From a browser (each browser signal), every elevated one is refused.
        for browser in [
            json!({"origin": origin}),
            json!({"sec-fetch-mode": "cors"}),
            json!({"User-Agent": "Mozilla/5.0 (X11)"}),
        ] {
            let with = |apikey: &str, bearer: Option<&str>| {
                let mut h = browser.clone();
                h["apikey"] = json!(apikey);
                if let Some(b) = bearer {
                    h["authorization"] = json!(b);
                }
                message(h)
            };
            assert_eq!(with("sk", None), Some(SECRET));
            assert_eq!(
                with("sk-user", None),
                Some(SECRET),
                "secret whatever its role"
            );
            assert_eq!(with("sk", Some("Bearer sk")), Some(SECRET));
            assert_eq!(with("legacy-sr", None), Some(ELEVATED_KEY));
            assert_eq!(
                with("legacy-sr", Some("Bearer legacy-sr")),
                Some(ELEVATED_KEY)
            );
            assert_eq!(with("pk", Some("Bearer legacy-sr")), Some(ELEVATED_TOKEN));
            assert_eq!(
                with("pk", Some("Bearer jwt:service_role")),
                Some(ELEVATED_TOKEN)
            );
            assert_eq!(
                with("pk", Some("Bearer jwt:authenticated,service_role")),
                Some(ELEVATED_TOKEN)
            );
            // Not elevated: passes from a browser.
            assert_eq!(with("pk", None), None);
            assert_eq!(with("pk-admin", None), None);
            assert_eq!(with("pk", Some("Bearer jwt:authenticated")), None);
            // A bad token is still a bad token.
            assert_eq!(with("pk", Some("Bearer forged")), Some("invalid jwt"));
        }
    }

    #[test]
    fn elevated_roles_is_the_setting() {
        use serde_json::json;
        let browser = |apikey: &str, bearer: &str| json!({"apikey": apikey, "origin": "https://app.example", "authorization": bearer});
        let admin = check(
            browser("pk-admin", "Bearer pk-admin"),
            "service_role, admin",
        )
        .unwrap()
        .unwrap();
        assert_eq!(admin.message, ELEVATED_KEY);
        assert!(admin.detail.contains("\"admin\""), "{}", admin.detail);
        let token = check(browser("pk", "Bearer jwt:admin"), "admin")
            .unwrap()
            .unwrap();
        assert_eq!(token.message, ELEVATED_TOKEN);
        assert!(token.detail.contains("\"admin\"") && token.hint.is_some());
        // With no elevated roles, only secret keys are refused from browsers.
        assert_eq!(
            check(browser("pk", "Bearer jwt:service_role"), "").unwrap(),
            None
        );
        assert_eq!(
            check(browser("sk", "Bearer sk"), "")
                .unwrap()
                .map(|r| r.message),
            Some(SECRET)
        );
        // A malformed header that decides whether this is a browser is refused.
        assert_eq!(
            check(json!({"apikey": "sk", "origin": null}), "service_role")
                .unwrap()
                .map(|r| r.message),
            Some("malformed request headers")
        );
    }
}
