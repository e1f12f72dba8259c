//! JWT mode: the FastAPI + python-socketio agent server's handshake check.
//!
//! That server reads `auth.token` in its `connect` handler, decodes it as an HS256 JWT and
//! raises `ConnectionRefusedError` with one of three messages, which python-socketio sends as
//! `44{"message":…}`.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const MSG_AUTH_REQUIRED: &str = "Authentication required";
pub const MSG_INVALID_TOKEN: &str = "Invalid or expired token";
pub const MSG_BAD_PAYLOAD: &str = "Invalid token payload";

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sub: Option<String>,
    exp: u64,
}

/// The user (`sub`) of a valid handshake, or the server's refusal string.
pub fn check_handshake(auth: Option<&Value>, secret: &str) -> Result<String, String> {
    let token = auth
        .and_then(|a| a.get("token"))
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .ok_or(MSG_AUTH_REQUIRED)?;
    let mut validation = Validation::new(Algorithm::HS256);
    // PyJWT's default: no leeway on `exp`.
    validation.leeway = 0;
    validation.required_spec_claims = ["exp".to_string()].into();
    let data = jsonwebtoken::decode::<Claims>(
        token,
        &DecodingKey::from_secret(secret.as_bytes()),
        &validation,
    )
    .map_err(|_| MSG_INVALID_TOKEN)?;
    data.claims.sub.filter(|s| !s.is_empty()).ok_or_else(|| MSG_BAD_PAYLOAD.to_string())
}

/// Mint an HS256 token for `sub` valid for `ttl_secs` (`sub: None` makes a token with no
/// subject, for testing the third refusal).
pub fn mint(sub: Option<&str>, secret: &str, ttl_secs: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64;
    let claims = Claims { sub: sub.map(str::to_string), exp: (now + ttl_secs).max(0) as u64 };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("HS256 encoding cannot fail")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_three_refusals_and_success() {
        let s = "k";
        assert_eq!(check_handshake(None, s), Err(MSG_AUTH_REQUIRED.into()));
        assert_eq!(check_handshake(Some(&json!({})), s), Err(MSG_AUTH_REQUIRED.into()));
        assert_eq!(
            check_handshake(Some(&json!({"token":"nope"})), s),
            Err(MSG_INVALID_TOKEN.into())
        );
        let expired = mint(Some("u"), s, -3600);
        assert_eq!(
            check_handshake(Some(&json!({"token": expired})), s),
            Err(MSG_INVALID_TOKEN.into())
        );
        let other_key = mint(Some("u"), "other", 60);
        assert_eq!(
            check_handshake(Some(&json!({"token": other_key})), s),
            Err(MSG_INVALID_TOKEN.into())
        );
        let no_sub = mint(None, s, 60);
        assert_eq!(
            check_handshake(Some(&json!({"token": no_sub})), s),
            Err(MSG_BAD_PAYLOAD.into())
        );
        let good = mint(Some("agent-user"), s, 60);
        assert_eq!(check_handshake(Some(&json!({"token": good})), s), Ok("agent-user".into()));
    }
}
