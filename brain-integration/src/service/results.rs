//! `POST /v1/results`: record a played match, then invalidate the cached predictions of its
//! competition (one tag).

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;

use super::errors::ApiError;
use super::{AppState, REQUEST_BODY_LIMIT};
use crate::domain::{NewResult, StoreError, parse_date};
use crate::repository::PredictionRepository;

#[derive(Serialize)]
struct Recorded {
    result: crate::domain::PlayedMatch,
    data_version: u64,
    settled_fixture: Option<String>,
    /// The cache tag invalidated (`competition:<name>`: every cached prediction of the result's
    /// competition, on every instance); `null` when the cache could not be reached (the
    /// competition's data fingerprint in every key already keeps the old entries from being
    /// read).
    invalidated_tag: Option<String>,
}

/// `POST /v1/results`: records a played match (`{"match_id", "home_goals", "away_goals"}` for a
/// fixture, or `{"date", "home", "away", "home_goals", "away_goals"}` with an optional
/// `"competition"`, needed only when the teams meet in several), then invalidates the cached
/// predictions of its competition (the tag `competition:<name>`); other competitions' stay.
pub async fn post_result(
    State(app): State<AppState>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body.map_err(|e| {
        // A body over the limit is rejected as such (413), not as malformed JSON.
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::body_too_large(format!(
                "the body is larger than the limit of {REQUEST_BODY_LIMIT} bytes"
            ))
        } else {
            ApiError {
                code: "invalid_body",
                ..ApiError::bad_parameter("body", e.body_text())
            }
        }
    })?;
    let result = parse_result(&body)?;
    let home = match &result {
        NewResult::Match { home, .. } => Some(home.clone()),
        NewResult::Fixture { .. } => None,
    };
    let recorded = app
        .store
        .record_result(result)
        .await
        .map_err(|e| match &e {
            StoreError::UnknownTeam(name) => {
                let field = if home.as_deref() == Some(name.as_str()) {
                    "home"
                } else {
                    "away"
                };
                ApiError::bad_parameter(field, e.to_string())
            }
            StoreError::SameTeam(_) => ApiError::bad_parameter("away", e.to_string()),
            StoreError::UnknownMatch(id) => ApiError {
                parameter: Some("match_id".into()),
                ..ApiError::unknown_match(id)
            },
            _ => e.into(),
        })?;
    let competition = &recorded.result.competition;
    let invalidated_tag = match app.cached.invalidate_competition(competition).await {
        Ok(()) => Some(crate::repository::competition_tag(competition)),
        Err(e) => {
            tracing::warn!(error = %e, "results changed but the cache could not be invalidated; old entries are unreachable by fingerprint");
            None
        }
    };
    let body = Recorded {
        result: recorded.result,
        data_version: recorded.data_version,
        settled_fixture: recorded.settled_fixture,
        invalidated_tag,
    };
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

fn parse_result(body: &Value) -> Result<NewResult, ApiError> {
    let Some(object) = body.as_object() else {
        return Err(ApiError::bad_parameter("body", "expected a JSON object"));
    };
    const FIELDS: [&str; 7] = [
        "match_id",
        "competition",
        "date",
        "home",
        "away",
        "home_goals",
        "away_goals",
    ];
    if let Some(unknown) = object.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(ApiError::bad_parameter(
            unknown,
            format!("unknown field `{unknown}`"),
        ));
    }
    let goals = |field: &str| -> Result<u16, ApiError> {
        match object.get(field) {
            None => Err(ApiError::bad_parameter(
                field,
                format!("missing field `{field}`"),
            )),
            Some(v) => v
                .as_u64()
                .filter(|g| *g <= 99)
                .map(|g| g as u16)
                .ok_or_else(|| {
                    ApiError::bad_parameter(
                        field,
                        format!("`{field}` must be a whole number from 0 to 99, got {v}"),
                    )
                }),
        }
    };
    let text = |field: &str| -> Result<Option<String>, ApiError> {
        match object.get(field) {
            None => Ok(None),
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some(s.trim().to_owned())),
            Some(v) => Err(ApiError::bad_parameter(
                field,
                format!("`{field}` must be a non-empty string, got {v}"),
            )),
        }
    };
    let (home_goals, away_goals) = (goals("home_goals")?, goals("away_goals")?);
    if let Some(match_id) = text("match_id")? {
        if let Some(extra) = ["date", "home", "away", "competition"]
            .into_iter()
            .find(|f| object.contains_key(*f))
        {
            return Err(ApiError::bad_parameter(
                extra,
                "give either `match_id`, or `date`, `home` and `away`",
            ));
        }
        return Ok(NewResult::Fixture {
            match_id,
            home_goals,
            away_goals,
        });
    }
    let need = |field: &str| {
        text(field)?.ok_or_else(|| {
            ApiError::bad_parameter(
                field,
                format!("missing field `{field}` (or give `match_id`)"),
            )
        })
    };
    let date_text = need("date")?;
    let date =
        parse_date(&date_text).map_err(|e| ApiError::bad_parameter("date", e.to_string()))?;
    Ok(NewResult::Match {
        competition: text("competition")?,
        date,
        home: need("home")?,
        away: need("away")?,
        home_goals,
        away_goals,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn result_bodies() {
        let fixture =
            parse_result(&json!({"match_id": "7", "home_goals": 2, "away_goals": 0})).unwrap();
        assert_eq!(
            fixture,
            NewResult::Fixture {
                match_id: "7".into(),
                home_goals: 2,
                away_goals: 0
            }
        );
        let full = parse_result(
            &json!({"date": "2025-08-09", "home": "A", "away": "B", "home_goals": 1, "away_goals": 1}),
        );
        assert!(matches!(full, Ok(NewResult::Match { .. })));
        for (body, field) in [
            (json!({"match_id": "7", "away_goals": 0}), "home_goals"),
            (
                json!({"match_id": "7", "home_goals": -1, "away_goals": 0}),
                "home_goals",
            ),
            (
                json!({"match_id": "7", "home_goals": 1.5, "away_goals": 0}),
                "home_goals",
            ),
            (
                json!({"match_id": "7", "home_goals": 1, "away_goals": 0, "home": "A"}),
                "home",
            ),
            (
                json!({"home": "A", "away": "B", "home_goals": 1, "away_goals": 0}),
                "date",
            ),
            (
                json!({"date": "31/02/2025", "home": "A", "away": "B", "home_goals": 1, "away_goals": 0}),
                "date",
            ),
            (
                json!({"date": "2025-01-01", "home": "", "away": "B", "home_goals": 1, "away_goals": 0}),
                "home",
            ),
            (
                json!({"match_id": "7", "home_goals": 1, "away_goals": 0, "colour": "red"}),
                "colour",
            ),
            (json!([1, 2]), "body"),
        ] {
            let err = parse_result(&body).unwrap_err();
            assert_eq!(
                err.parameter.as_deref(),
                Some(field),
                "{body}: {}",
                err.message
            );
        }
    }
}
