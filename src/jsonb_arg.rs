//! A `jsonb` argument taken as text, parsed by us.
//!
//! pgrx's `JsonB` parses a jsonb argument with serde_json and panics (SQLSTATE XX000) when that
//! fails, and valid jsonb can fail it: numbers beyond a double (`1e400`) and nesting deeper than
//! serde_json's limit of 128. Taking the text and parsing it here turns those into a clear 22023.

use pgrx::{pg_sys, FromDatum};
use serde_json::Value;

use crate::errors::AuthError;

pub struct JsonbArg(String);

impl JsonbArg {
    /// The argument as a JSON value; 22023 when serde_json cannot represent it.
    pub fn parse(&self, what: &str) -> Result<Value, AuthError> {
        serde_json::from_str(&self.0).map_err(|e| {
            let why = if e.to_string().contains("recursion limit") {
                "nested more than 128 levels deep".to_string()
            } else if e.to_string().contains("number out of range") {
                "a number is out of the range of a double".to_string()
            } else {
                "not representable".to_string()
            };
            AuthError::BadArgument(format!("{what}: {why}"))
        })
    }
}

impl JsonbArg {
    /// As [`JsonbArg::parse`], also refusing numbers a double cannot hold exactly: what is
    /// signed must be what the caller wrote (JWT numbers are doubles, RFC 7519 §2, RFC 7493).
    pub fn parse_exact(&self, what: &str) -> Result<Value, AuthError> {
        let value = self.parse(what)?;
        if !pg_auth_keys_core::numbers_survive_doubles(&self.0) {
            return Err(AuthError::BadArgument(format!(
                "{what}: a number cannot be represented exactly as a double; write it as a string"
            )));
        }
        Ok(value)
    }
}

impl FromDatum for JsonbArg {
    unsafe fn from_polymorphic_datum(
        datum: pg_sys::Datum,
        is_null: bool,
        _: pg_sys::Oid,
    ) -> Option<JsonbArg> {
        if is_null {
            return None;
        }
        // SAFETY: `datum` is a non-NULL jsonb datum PostgreSQL passed for this argument;
        // jsonb_out detoasts it and returns a palloc'd C string in the current memory context,
        // which is copied and then freed.
        unsafe {
            let cstr =
                pgrx::direct_function_call::<&std::ffi::CStr>(pg_sys::jsonb_out, &[Some(datum)])?;
            let text = cstr.to_string_lossy().into_owned();
            pg_sys::pfree(cstr.as_ptr() as *mut std::ffi::c_void);
            Some(JsonbArg(text))
        }
    }
}

pgrx::impl_sql_translatable!(JsonbArg, "jsonb");

// How pgrx's wrappers take the argument: through FromDatum, like its own types.
// SAFETY: the argument is decoded through `FromDatum` exactly as pgrx's own types are.
unsafe impl<'fcx> pgrx::callconv::ArgAbi<'fcx> for JsonbArg {
    unsafe fn unbox_arg_unchecked(arg: pgrx::callconv::Arg<'_, 'fcx>) -> Self {
        // Our functions are STRICT, so PostgreSQL never passes NULL here; a NULL would be a bug.
        // SAFETY: pgrx hands over an argument of this function's declared type, jsonb.
        unsafe { arg.unbox_arg_using_from_datum() }.unwrap_or_else(|| JsonbArg("null".into()))
    }
}
