//! Every error the extension raises, mapped to its SQLSTATE in one place.
//!
//! A bare `Result<_, impl Display>` would surface as SQLSTATE 22000/XX000, which tells a client
//! nothing; each variant here names the class a client can act on (STYLE.md, "Errors").
//! Messages never contain a key, a secret or a whole token.

use pg_auth_keys_core::{KeyError, SealError, TokenError};
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::{PgLogLevel, PgSqlErrorCode};

/// Why a presented API key was refused (SQLSTATE 28000).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ApiKeyRefusal {
    #[error("malformed api key")]
    Malformed,
    #[error("api key checksum mismatch")]
    BadChecksum,
    #[error("unknown api key")]
    Unknown,
    #[error("api key revoked")]
    Revoked,
    #[error("legacy api keys are disabled")]
    LegacyDisabled,
    #[error("legacy api key: {0}")]
    LegacyToken(TokenError),
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// A token or API key was refused: 28000 invalid_authorization_specification.
    #[error("{0}")]
    Token(#[from] TokenError),
    /// An API key was refused: 28000.
    #[error("{0}")]
    ApiKey(#[from] ApiKeyRefusal),
    /// The caller has no verified claims where the function needs them (auth.sign_out): 28000.
    #[error("{0}")]
    NotAuthenticated(String),
    /// Sealing or opening a private key, HMAC secret or secret API key failed: 55000 when the
    /// key-encryption key that sealed it is missing (or the root key unusable), XX001
    /// data_corrupted when the sealed value is damaged.
    #[error("{0}")]
    Sealed(#[from] SealError),
    /// A key could not be generated, parsed or trusted: 22023 invalid_parameter_value.
    #[error("{0}")]
    Key(#[from] KeyError),
    /// A caller-supplied argument is unusable: 22023.
    #[error("{0}")]
    BadArgument(String),
    /// The extension is not in a state to do this (not preloaded, no key in use): 55000.
    #[error("{message}")]
    NotReady { message: String, hint: String },
    /// PostgreSQL could do this, but the extension refuses to (PREPARE TRANSACTION of a key
    /// change): 0A000 feature_not_supported.
    #[error("{message}")]
    Unsupported { message: String, hint: String },
    /// A third-party issuer's keys could not be fetched or are unusable (unreachable, refused
    /// certificate, too large, a document without usable keys): 58000 system_error, an error
    /// outside PostgreSQL.
    #[error("{0}")]
    Issuer(String),
    /// The key table could not be read: XX000, a bug or a broken installation.
    #[error("{0}")]
    Internal(String),
}

const KEK_HINT: &str = "the key-encryption key is auth.root_key, auth.previous_root_key or the file pg_auth_keys.kek in the data directory: configure or restore the one that sealed this value (a copy of a database needs its key-encryption key)";

impl AuthError {
    fn sqlstate(&self) -> PgSqlErrorCode {
        match self {
            AuthError::Token(_) | AuthError::ApiKey(_) | AuthError::NotAuthenticated(_) => {
                PgSqlErrorCode::ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION
            }
            AuthError::Sealed(
                SealError::RootKeyTooShort
                | SealError::KekUnavailable(_)
                | SealError::UnknownVersion(_),
            ) => PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            AuthError::Sealed(SealError::Corrupt) => PgSqlErrorCode::ERRCODE_DATA_CORRUPTED,
            AuthError::Sealed(SealError::Random) => PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
            AuthError::Key(_) | AuthError::BadArgument(_) => {
                PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE
            }
            AuthError::NotReady { .. } => PgSqlErrorCode::ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
            AuthError::Unsupported { .. } => PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            AuthError::Internal(_) => PgSqlErrorCode::ERRCODE_INTERNAL_ERROR,
            AuthError::Issuer(_) => PgSqlErrorCode::ERRCODE_SYSTEM_ERROR,
        }
    }

    /// Raise this error as a PostgreSQL ERROR; never returns.
    #[track_caller]
    pub fn raise(self) -> ! {
        let sqlstate = self.sqlstate();
        let hint = match &self {
            AuthError::NotReady { hint, .. } | AuthError::Unsupported { hint, .. } => {
                Some(hint.clone())
            }
            AuthError::Sealed(SealError::KekUnavailable(_)) => Some(KEK_HINT.into()),
            _ => None,
        };
        let mut report = ErrorReport::new(sqlstate, self.to_string(), "pg_auth_keys");
        if let Some(hint) = hint {
            report = report.set_hint(hint);
        }
        report.report(PgLogLevel::ERROR);
        unreachable!("ERROR does not return")
    }
}

/// Unwrap a result or raise its error.
pub trait OrRaise<T> {
    fn or_raise(self) -> T;
}

impl<T, E: Into<AuthError>> OrRaise<T> for Result<T, E> {
    #[track_caller]
    fn or_raise(self) -> T {
        match self {
            Ok(v) => v,
            Err(e) => e.into().raise(),
        }
    }
}
