//! Everything the source APIs answer besides success, in the spec's
//! `Error` shape (`code` and `message`, both strings; each source chooses
//! its codes), with the headers a client needs to react (`WWW-Authenticate`,
//! `Retry-After`).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Everything the API answers besides success, in the spec's `Error` shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(super) enum ApiError {
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("unknown customer `{0}`")]
    UnknownCustomer(String),
    #[error("no {0} with id `{1}`")]
    NotFound(&'static str, String),
    #[error("invalid id `{0}`: not a UUID")]
    InvalidId(String),
    #[error("{0}")]
    InvalidFilter(String),
    #[error("{0}")]
    InvalidBody(String),
    #[error(
        "`limit` {asked} is over this server's maximum page size of {max}; ask for at most {max}"
    )]
    LimitTooLarge { asked: usize, max: usize },
    #[error("too many requests, retry later")]
    RateLimited,
    #[error("internal server error")]
    Internal,
    #[error("service temporarily unavailable")]
    Unavailable,
    #[error("not found")]
    UnknownPath,
}

impl ApiError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "Unauthorized"),
            ApiError::UnknownCustomer(_) => (StatusCode::NOT_FOUND, "UnknownCustomer"),
            ApiError::NotFound(..) | ApiError::UnknownPath => (StatusCode::NOT_FOUND, "NotFound"),
            ApiError::InvalidId(_) => (StatusCode::BAD_REQUEST, "InvalidId"),
            ApiError::InvalidFilter(_) => (StatusCode::BAD_REQUEST, "InvalidFilter"),
            ApiError::InvalidBody(_) => (StatusCode::BAD_REQUEST, "InvalidBody"),
            ApiError::LimitTooLarge { .. } => (StatusCode::BAD_REQUEST, "InvalidLimit"),
            ApiError::RateLimited => (StatusCode::TOO_MANY_REQUESTS, "TooManyRequests"),
            ApiError::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "InternalError"),
            ApiError::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let body = json!({ "code": code, "message": self.to_string() });
        let mut response = (status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        match self {
            ApiError::Unauthorized(reason) => {
                let challenge = if reason.starts_with("missing") {
                    "Bearer"
                } else {
                    "Bearer error=\"invalid_token\""
                };
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(challenge),
                );
            }
            ApiError::RateLimited => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            ApiError::Unavailable => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_have_string_codes_and_auth_challenges() {
        let response = ApiError::Unauthorized("missing bearer token").into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(response.headers()[header::WWW_AUTHENTICATE], "Bearer");
        let response = ApiError::RateLimited.into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
    }
}
