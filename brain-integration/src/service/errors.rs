//! JSON error responses: `{"error": {"code": ..., "message": ..., "parameter": ...}}`.

use std::borrow::Cow;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::domain::StoreError;
use crate::engine::ParamError;
use crate::repository::RepositoryError;

/// Longest piece of client input (an id, a name) echoed in an error message, in bytes.
const MAX_ECHOED_INPUT: usize = 64;
/// Longest error message answered, in bytes: a net under every message that quotes input.
const MAX_MESSAGE: usize = 512;

/// `text` whole when it has at most `max` bytes; otherwise its start, cut on a character
/// boundary, and a note saying how long the whole was, so a client sees it was cut.
pub fn clip(text: &str, max: usize) -> Cow<'_, str> {
    if text.len() <= max {
        return Cow::Borrowed(text);
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!(
        "{}… (truncated, {} bytes in all)",
        &text[..end],
        text.len()
    ))
}

/// An error answered to an HTTP client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code (`unknown_match`, `invalid_parameter`, ...).
    pub code: &'static str,
    /// Human-readable explanation.
    pub message: String,
    /// The request parameter or body field at fault, when there is one.
    pub parameter: Option<String>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: Detail<'a>,
}

#[derive(Serialize)]
struct Detail<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    parameter: Option<&'a str>,
}

impl ApiError {
    /// A 400 naming the parameter at fault.
    pub fn bad_parameter(parameter: &str, message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code: "invalid_parameter",
            message: message.into(),
            parameter: Some(parameter.to_owned()),
        }
    }

    /// A 404 for a match id no fixture has.
    pub fn unknown_match(id: &str) -> Self {
        ApiError {
            status: StatusCode::NOT_FOUND,
            code: "unknown_match",
            message: format!("no fixture has the id {:?}", clip(id, MAX_ECHOED_INPUT)),
            parameter: Some("id".to_owned()),
        }
    }

    /// A 413 for a request body above the service's limit.
    pub fn body_too_large(message: impl Into<String>) -> Self {
        ApiError {
            parameter: Some("body".to_owned()),
            ..ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", message)
        }
    }

    /// An error of ours, with a status.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            parameter: None,
        }
    }
}

impl From<ParamError> for ApiError {
    fn from(e: ParamError) -> Self {
        // The value is the client's; the expectation is what helps, so it is never cut off.
        let message = format!(
            "invalid parameter `{}`={:?}: expected {}",
            clip(&e.parameter, MAX_ECHOED_INPUT),
            clip(&e.value, MAX_ECHOED_INPUT),
            e.expected
        );
        ApiError::bad_parameter(&e.parameter, message)
    }
}

impl From<RepositoryError> for ApiError {
    fn from(e: RepositoryError) -> Self {
        match e {
            RepositoryError::UnknownMatch(id) => ApiError::unknown_match(&id),
            RepositoryError::InvalidConfig(p) => p.into(),
            RepositoryError::Store(s) => s.into(),
            RepositoryError::Timeout(_) => {
                tracing::warn!(error = %e, "prediction timed out");
                ApiError::new(
                    StatusCode::GATEWAY_TIMEOUT,
                    "prediction_timeout",
                    e.to_string(),
                )
            }
            other => {
                tracing::error!(error = %other, "prediction failed");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "prediction_failed",
                    other.to_string(),
                )
            }
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match &e {
            StoreError::UnknownMatch(id) => ApiError::unknown_match(id),
            StoreError::UnknownTeam(_) | StoreError::SameTeam(_) => ApiError {
                parameter: Some("home/away".into()),
                ..ApiError::new(StatusCode::BAD_REQUEST, "invalid_team", e.to_string())
            },
            StoreError::DuplicateId(_) => {
                ApiError::new(StatusCode::CONFLICT, "duplicate_id", e.to_string())
            }
            StoreError::Competition(_) => ApiError {
                parameter: Some("competition".into()),
                ..ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_competition",
                    e.to_string(),
                )
            },
            StoreError::Unavailable(_) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                e.to_string(),
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // Messages and parameter names may quote client input of any length.
        let message = clip(&self.message, MAX_MESSAGE);
        let parameter = self.parameter.as_deref().map(|p| clip(p, MAX_ECHOED_INPUT));
        let body = Body {
            error: Detail {
                code: self.code,
                message: &message,
                parameter: parameter.as_deref(),
            },
        };
        (self.status, Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_compute_timeout_is_a_504_with_its_own_code() {
        let err = ApiError::from(RepositoryError::Timeout(Duration::from_secs(2)));
        assert_eq!(err.status, StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(err.code, "prediction_timeout");
        assert!(err.message.contains("2s"), "{}", err.message);
        let other = ApiError::from(RepositoryError::Task("boom".into()));
        assert_eq!(
            (other.status, other.code),
            (StatusCode::INTERNAL_SERVER_ERROR, "prediction_failed")
        );
    }
}
