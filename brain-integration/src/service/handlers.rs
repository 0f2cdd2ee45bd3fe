//! The route handlers.

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;
use super::errors::ApiError;
use crate::engine::ModelConfig;
use crate::repository::{PredictionOutcome, PredictionRepository};

/// Header saying where a prediction came from.
pub const X_CACHE: &str = "x-cache";
/// Which tier served a cached prediction: `l1` (in process) or `l2` (the backend).
pub const X_CACHE_TIER: &str = "x-cache-tier";
/// Header with the compute time in milliseconds, when the request computed.
pub const X_COMPUTE_TIME_MS: &str = "x-compute-time-ms";

fn path_id(path: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    path.map(|Path(id)| id)
        .map_err(|e| ApiError::bad_parameter("id", e.body_text()))
}

/// `GET /v1/matches`: the fixtures that can be predicted.
pub async fn list_matches(State(app): State<AppState>) -> Result<Response, ApiError> {
    let fixtures = app.store.fixtures().await?;
    let data_version = app.store.dataset().await?.version();
    Ok(Json(
        json!({ "data_version": data_version, "count": fixtures.len(), "matches": &*fixtures }),
    )
    .into_response())
}

/// Whether a request uses the cache (`?cache=bypass` computes directly).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CacheMode {
    Use,
    Bypass,
}

fn parse_prediction_query(
    pairs: Vec<(String, String)>,
) -> Result<(ModelConfig, CacheMode), ApiError> {
    let mut config = ModelConfig::default();
    let mut mode = CacheMode::Use;
    for (i, (name, value)) in pairs.iter().enumerate() {
        // A handful of parameters: a scan beats hashing.
        if pairs[..i].iter().any(|(earlier, _)| earlier == name) {
            return Err(ApiError::bad_parameter(
                name,
                format!("parameter `{name}` given more than once"),
            ));
        }
        if name == "cache" {
            mode = match value.as_str() {
                "bypass" => CacheMode::Bypass,
                "use" => CacheMode::Use,
                _ => {
                    return Err(ApiError::bad_parameter(
                        "cache",
                        format!("invalid parameter `cache`={value:?}: expected bypass or use"),
                    ));
                }
            };
        } else {
            config.set_param(name, value)?;
        }
    }
    Ok((config, mode))
}

/// `GET /v1/matches/{id}/predictions?model=&max_goals=&xi=&top_scores=&cache=bypass`.
pub async fn predictions(
    State(app): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let id = path_id(path)?;
    let Query(pairs) = query.map_err(|e| ApiError::bad_parameter("query", e.body_text()))?;
    let (config, mode) = parse_prediction_query(pairs)?;
    let repository: &dyn PredictionRepository = match mode {
        CacheMode::Use => app.cached.as_ref() as &dyn PredictionRepository,
        CacheMode::Bypass => app.direct.as_ref(),
    };
    let outcome = repository.calculate_predictions(&id, &config).await?;
    app.telemetry
        .record_prediction(outcome.source.as_str(), outcome.compute_time);
    Ok(prediction_response(&outcome))
}

/// Most match ids one `GET /v1/predictions` may ask for.
pub const MAX_BATCH_IDS: usize = 100;

/// `GET /v1/predictions?match_ids=1,2,3&model=&max_goals=&xi=&top_scores=&cache=bypass`: the
/// predictions of several matches in request order, from one batched cache read (and one
/// batch of computes for the misses). Always 200 once the request itself is valid: an unknown
/// id (or a prediction that failed) is an entry with an `error` for that id alone.
pub async fn batch_predictions(
    State(app): State<AppState>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(mut pairs) = query.map_err(|e| ApiError::bad_parameter("query", e.body_text()))?;
    let ids = take_match_ids(&mut pairs)?;
    let (config, mode) = parse_prediction_query(pairs)?;
    let repository: &dyn PredictionRepository = match mode {
        CacheMode::Use => app.cached.as_ref() as &dyn PredictionRepository,
        CacheMode::Bypass => app.direct.as_ref(),
    };
    let outcomes = repository.calculate_many(&ids, &config).await?;
    let entries: Vec<BatchEntry<'_>> = ids
        .iter()
        .zip(&outcomes)
        .map(|(id, outcome)| match outcome {
            Ok(outcome) => {
                app.telemetry
                    .record_prediction(outcome.source.as_str(), outcome.compute_time);
                BatchEntry {
                    match_id: id,
                    source: Some(outcome.source.as_str()),
                    tier: outcome.tier.map(|t| t.as_str()),
                    compute_time_ms: outcome.compute_time.map(|t| t.as_secs_f64() * 1e3),
                    prediction: Some(&*outcome.prediction),
                    error: None,
                }
            }
            Err(e) => {
                let api = ApiError::from(e.clone());
                BatchEntry {
                    match_id: id,
                    source: None,
                    tier: None,
                    compute_time_ms: None,
                    prediction: None,
                    error: Some(EntryError {
                        status: api.status.as_u16(),
                        code: api.code,
                        message: api.message,
                    }),
                }
            }
        })
        .collect();
    Ok(Json(json!({ "count": entries.len(), "predictions": entries })).into_response())
}

/// One match's entry in a batch answer: its prediction and cache source, or its error.
#[derive(serde::Serialize)]
struct BatchEntry<'a> {
    match_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tier: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    compute_time_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prediction: Option<&'a crate::engine::Prediction>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<EntryError>,
}

/// An entry's error: what the single-match route would have answered.
#[derive(serde::Serialize)]
struct EntryError {
    status: u16,
    code: &'static str,
    message: String,
}

/// Removes `match_ids` from the query and splits it: comma-separated, at least one, at most
/// [`MAX_BATCH_IDS`]; duplicates are answered at each position.
fn take_match_ids(pairs: &mut Vec<(String, String)>) -> Result<Vec<String>, ApiError> {
    let mut given = pairs.iter().filter(|(name, _)| name == "match_ids");
    let (Some((_, value)), None) = (given.next(), given.next()) else {
        return Err(ApiError::bad_parameter(
            "match_ids",
            "give `match_ids` once: comma-separated match ids, e.g. match_ids=1,2,3",
        ));
    };
    let ids: Vec<String> = value.split(',').map(|id| id.trim().to_owned()).collect();
    if ids.iter().any(String::is_empty) {
        return Err(ApiError::bad_parameter(
            "match_ids",
            "`match_ids` holds an empty id (expected e.g. match_ids=1,2,3)",
        ));
    }
    if ids.len() > MAX_BATCH_IDS {
        return Err(ApiError::bad_parameter(
            "match_ids",
            format!(
                "`match_ids` holds {} ids; at most {MAX_BATCH_IDS} per request",
                ids.len()
            ),
        ));
    }
    pairs.retain(|(name, _)| name != "match_ids");
    Ok(ids)
}

fn prediction_response(outcome: &PredictionOutcome) -> Response {
    let body = match outcome.prediction.json() {
        Ok(body) => body,
        Err(e) => {
            return ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "encode_failed",
                e.to_string(),
            )
            .into_response();
        }
    };
    let mut response = Response::new(Body::from(body));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(X_CACHE, HeaderValue::from_static(outcome.source.as_str()));
    if let Some(tier) = outcome.tier {
        headers.insert(X_CACHE_TIER, HeaderValue::from_static(tier.as_str()));
    }
    if let Some(t) = outcome.compute_time {
        let ms = format!("{:.3}", t.as_secs_f64() * 1e3);
        if let Ok(v) = HeaderValue::from_str(&ms) {
            headers.insert(X_COMPUTE_TIME_MS, v);
        }
    }
    response
}

/// `DELETE /v1/matches/{id}/predictions`: forgets every cached prediction of one match.
pub async fn delete_predictions(
    State(app): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let id = path_id(path)?;
    if !app.store.contains_fixture(&id).await? {
        return Err(ApiError::unknown_match(&id));
    }
    let invalidated = app.cached.invalidate_match(&id).await.map_err(|e| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "cache_unavailable",
            format!("could not invalidate: {e}"),
        )
    })?;
    Ok(Json(json!({ "match_id": id, "invalidated": invalidated })).into_response())
}

/// `GET /healthz`: backend reachability and breaker state. Always 200 while the service answers
/// (a store that is down degrades the cache, not the service); `status` says `ok` or `degraded`.
pub async fn healthz(State(app): State<AppState>) -> Response {
    let health = app.cache.health().await;
    let data_version = app.store.dataset().await.map(|d| d.version()).ok();
    let status = if health.reachable || !health.enabled {
        "ok"
    } else {
        "degraded"
    };
    Json(json!({
        "status": status,
        "backend": health.backend,
        "cache_enabled": health.enabled,
        "reachable": health.reachable,
        "breaker": health.breaker.as_str(),
        "error": health.error,
        "data_version": data_version,
    }))
    .into_response()
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(State(app): State<AppState>) -> Response {
    let text = app.telemetry.render(
        super::PREDICTION_CACHE,
        app.cache.stats().breaker,
        app.cache.l1_status().map(|l1| l1.feed),
    );
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

/// A known path with another method: a JSON 405 (axum adds the `Allow` header).
pub async fn method_not_allowed(method: axum::http::Method) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{method} is not allowed on this route (see the Allow header)"),
    )
}

/// Any other path: a JSON 404.
pub async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn query_parsing_names_the_parameter() {
        let (c, m) =
            parse_prediction_query(pairs(&[("model", "poisson"), ("cache", "bypass")])).unwrap();
        assert_eq!((c.model.as_str(), m), ("poisson", CacheMode::Bypass));
        for (query, name) in [
            (vec![("max_goals", "x")], "max_goals"),
            (vec![("cache", "maybe")], "cache"),
            (vec![("model", "poisson"), ("model", "dc")], "model"),
            (vec![("foo", "1")], "foo"),
        ] {
            let err = parse_prediction_query(pairs(&query)).unwrap_err();
            assert_eq!(err.parameter.as_deref(), Some(name));
            assert_eq!(err.status, StatusCode::BAD_REQUEST);
        }
    }
}
