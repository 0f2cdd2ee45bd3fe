//! End-to-end over HTTP on an ephemeral port, with the in-memory backend.

mod common;

use std::sync::Arc;

use brain_integration::load::Connection;
use cache_memory::MemoryBackend;
use common::{
    TestService, competition_of, json, predictions, small_store, test_cache_config,
    two_competition_store,
};
use serde_json::json;

async fn service(glob_ids: &[&str]) -> TestService {
    TestService::start(
        small_store(glob_ids),
        Arc::new(MemoryBackend::new(10_000)),
        test_cache_config(),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn miss_then_hit_with_identical_body_and_configs_are_separate_entries() {
    let svc = service(&[]).await;
    let mut c = svc.client();

    let first = svc.miss(&mut c, "1", "").await;
    let compute_ms: f64 = first.header("x-compute-time-ms").unwrap().parse().unwrap();
    assert!(compute_ms > 0.0);
    assert_eq!(first.header("content-type"), Some("application/json"));

    let second = c.get(&predictions("1")).await;
    assert_eq!(second.x_cache(), Some("hit"));
    assert_eq!(
        second.header("x-compute-time-ms"),
        None,
        "a hit computed nothing"
    );
    assert_eq!(
        second.body, first.body,
        "a hit returns the very same prediction"
    );

    let body = json(&first);
    assert_eq!(body["match_id"], "1");
    assert_eq!(body["config"]["model"], "dixon-coles");
    let r = &body["markets"]["match_result"];
    let sum =
        r["home"].as_f64().unwrap() + r["draw"].as_f64().unwrap() + r["away"].as_f64().unwrap();
    assert!((sum - 1.0).abs() < 1e-9);

    // Another configuration is another entry, with other numbers.
    let poisson = svc.miss(&mut c, "1", "model=poisson").await;
    assert_ne!(poisson.body, first.body);
    assert_eq!(json(&poisson)["model"]["rho"], 0.0);
    let grid = svc.miss(&mut c, "1", "max_goals=6").await;
    assert_ne!(grid.body, first.body);
    assert_eq!(
        c.get(&format!("{}?model=poisson", predictions("1")))
            .await
            .x_cache(),
        Some("hit")
    );
    // Spelling does not matter: `dc` and the default are the same configuration, same entry.
    assert_eq!(
        c.get(&format!("{}?model=dc&max_goals=10", predictions("1")))
            .await
            .x_cache(),
        Some("hit")
    );

    // Bypass computes and stores nothing.
    let bypass = c.get(&format!("{}?cache=bypass", predictions("2"))).await;
    assert_eq!(bypass.x_cache(), Some("bypass"));
    assert!(bypass.header("x-compute-time-ms").is_some());
    let after = svc.miss(&mut c, "2", "").await;
    assert_eq!(after.body, bypass.body, "the engine is deterministic");

    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posting_a_result_invalidates_and_the_next_answer_uses_it() {
    let svc = service(&[]).await;
    let mut c = svc.client();
    let before = json(&svc.miss(&mut c, "1", "").await);
    svc.miss(&mut c, "1", "model=poisson").await;
    svc.miss(&mut c, "2", "").await;
    assert_eq!(before["data_version"], 0);

    // The home side of fixture 1 wins 9-0 just before it: its attack must go up.
    let home = before["home"].as_str().unwrap().to_owned();
    let away_team = json(&c.get("/v1/matches").await)["matches"][5]["away"]
        .as_str()
        .unwrap()
        .to_owned();
    let opponent = if away_team == home {
        before["away"].as_str().unwrap().to_owned()
    } else {
        away_team
    };
    let posted = c
        .post(
            "/v1/results",
            &json!({"date": "2023-06-01", "home": home, "away": opponent, "home_goals": 9, "away_goals": 0}),
        )
        .await;
    assert_eq!(posted.status, 201, "{}", posted.text());
    let posted = json(&posted);
    assert_eq!(posted["data_version"], 1);
    let competition = competition_of(&mut c, "1").await;
    assert_eq!(
        posted["invalidated_tag"].as_str(),
        Some(format!("competition:{competition}").as_str()),
        "the cached predictions of the result's competition are invalidated by one tag"
    );

    let after = json(&svc.miss(&mut c, "1", "").await);
    assert_eq!(after["data_version"], 1);
    assert_eq!(
        after["model"]["matches_used"],
        before["model"]["matches_used"].as_u64().unwrap() + 1
    );
    assert!(
        after["model"]["home_team"]["attack"].as_f64().unwrap()
            > before["model"]["home_team"]["attack"].as_f64().unwrap(),
        "a 9-0 win raises the attack"
    );
    assert_eq!(c.get(&predictions("1")).await.x_cache(), Some("hit"));

    // Settling a fixture: it leaves the list, its predictions 404, everything else recomputes.
    let settled = c
        .post(
            "/v1/results",
            &json!({"match_id": "2", "home_goals": 1, "away_goals": 1}),
        )
        .await;
    assert_eq!(settled.status, 201, "{}", settled.text());
    let settled = json(&settled);
    assert_eq!(
        (
            settled["data_version"].as_u64(),
            settled["settled_fixture"].as_str()
        ),
        (Some(2), Some("2"))
    );
    assert_eq!(
        settled["invalidated_tag"].as_str(),
        Some(format!("competition:{competition}").as_str())
    );
    assert_eq!(c.get(&predictions("2")).await.status, 404);
    let list = json(&c.get("/v1/matches").await);
    assert_eq!(list["data_version"], 2);
    assert!(
        list["matches"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["id"] != "2")
    );

    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_in_one_competition_leaves_the_others_predictions_cached() {
    let svc = TestService::start(
        two_competition_store(),
        Arc::new(MemoryBackend::new(10_000)),
        test_cache_config(),
    )
    .await;
    let mut c = svc.client();
    let list = json(&c.get("/v1/matches").await);
    let fixtures: Vec<(String, String)> = list["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let text = |field: &str| m[field].as_str().unwrap().to_owned();
            (text("id"), text("competition"))
        })
        .collect();
    let (first_id, first) = fixtures[0].clone();
    let in_first: Vec<&String> = fixtures
        .iter()
        .filter(|(_, c)| *c == first)
        .map(|(id, _)| id)
        .collect();
    let (other_id, other) = fixtures
        .iter()
        .find(|(_, c)| *c != first)
        .cloned()
        .expect("two competitions");
    let settled_id = in_first[1].clone();
    for id in [&first_id, &other_id] {
        svc.miss(&mut c, id, "").await;
    }
    let before = json(&c.get(&predictions(&other_id)).await);

    let posted = c
        .post(
            "/v1/results",
            &json!({"match_id": settled_id, "home_goals": 3, "away_goals": 1}),
        )
        .await;
    assert_eq!(posted.status, 201, "{}", posted.text());
    assert_eq!(
        json(&posted)["invalidated_tag"].as_str(),
        Some(format!("competition:{first}").as_str())
    );
    // The result's competition recomputes, with the result; the other one is still cached.
    let recomputed = json(&svc.miss(&mut c, &first_id, "").await);
    assert_eq!(recomputed["data_version"], 1);
    let kept = c.get(&predictions(&other_id)).await;
    assert_eq!(kept.x_cache(), Some("hit"), "{other} was not touched");
    assert_eq!(json(&kept), before);
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_json_errors() {
    let svc = service(&[]).await;
    let mut c = svc.client();
    let check = |r: &brain_integration::load::HttpResponse,
                 status: u16,
                 code: &str,
                 parameter: Option<&str>| {
        assert_eq!(r.status, status, "{}", r.text());
        assert_eq!(r.header("content-type"), Some("application/json"));
        let body = json(r);
        assert_eq!(body["error"]["code"], code, "{body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
        assert_eq!(body["error"]["parameter"].as_str(), parameter, "{body}");
    };
    check(
        &c.get(&predictions("999")).await,
        404,
        "unknown_match",
        Some("id"),
    );
    check(
        &c.delete(&predictions("999")).await,
        404,
        "unknown_match",
        Some("id"),
    );
    check(
        &c.get(&format!("{}?max_goals=lots", predictions("1"))).await,
        400,
        "invalid_parameter",
        Some("max_goals"),
    );
    check(
        &c.get(&format!("{}?max_goals=99", predictions("1"))).await,
        400,
        "invalid_parameter",
        Some("max_goals"),
    );
    check(
        &c.get(&format!("{}?model=elo", predictions("1"))).await,
        400,
        "invalid_parameter",
        Some("model"),
    );
    check(
        &c.get(&format!("{}?xi=-1", predictions("1"))).await,
        400,
        "invalid_parameter",
        Some("xi"),
    );
    check(
        &c.get(&format!("{}?colour=red", predictions("1"))).await,
        400,
        "invalid_parameter",
        Some("colour"),
    );
    check(
        &c.get(&format!("{}?model=dc&model=poisson", predictions("1")))
            .await,
        400,
        "invalid_parameter",
        Some("model"),
    );
    check(&c.get("/v2/nothing").await, 404, "not_found", None);
    check(
        &c.post(
            "/v1/results",
            &json!({"match_id": "1", "home_goals": "two", "away_goals": 0}),
        )
        .await,
        400,
        "invalid_parameter",
        Some("home_goals"),
    );
    check(
        &c.post(
            "/v1/results",
            &json!({"match_id": "999", "home_goals": 1, "away_goals": 0}),
        )
        .await,
        404,
        "unknown_match",
        Some("match_id"),
    );
    check(
        &c.post("/v1/results", &json!({"date": "2024-01-01", "home": "Nowhere FC", "away": "Ashford Athletic", "home_goals": 1, "away_goals": 0}))
            .await,
        400,
        "invalid_parameter",
        Some("home"),
    );
    let raw = Connection::new(svc.addr)
        .send("POST", "/v1/results", Some(b"{not json"))
        .await
        .unwrap();
    check(&raw, 400, "invalid_body", Some("body"));
    // Nothing above changed the data.
    assert_eq!(json(&c.get("/v1/matches").await)["data_version"], 0);
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_id_with_glob_characters_invalidates_only_itself() {
    let svc = service(&["1*", "1?", "[1]", "1\\"]).await;
    let mut c = svc.client();
    let ids = ["1", "10", "11", "1*", "1%3F", "%5B1%5D", "1%5C"];
    for id in ids {
        svc.miss(&mut c, id, "").await;
    }
    // `1*` as a glob would match 1, 10, 11, 1?, 1\ ...: only its own entry may go.
    let deleted = c.delete(&predictions("1%2A")).await;
    assert_eq!(deleted.status, 200, "{}", deleted.text());
    assert_eq!(json(&deleted), json!({"match_id": "1*", "invalidated": 1}));
    for id in ["1", "10", "11", "1%3F", "%5B1%5D", "1%5C"] {
        assert_eq!(
            c.get(&predictions(id)).await.x_cache(),
            Some("hit"),
            "{id} was invalidated"
        );
    }
    svc.miss(&mut c, "1%2A", "").await;
    // An unknown id with glob characters is a 404 and touches nothing.
    assert_eq!(c.delete(&predictions("%2A")).await.status, 404);
    assert_eq!(c.delete(&predictions("1%5B0-9%5D")).await.status, 404);
    for id in ids {
        assert_eq!(c.get(&predictions(id)).await.x_cache(), Some("hit"), "{id}");
    }
    // Deleting `1` takes both of its configurations and nothing else.
    svc.miss(&mut c, "1", "model=poisson").await;
    assert_eq!(json(&c.delete(&predictions("1")).await)["invalidated"], 2);
    assert_eq!(c.get(&predictions("10")).await.x_cache(), Some("hit"));
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_metrics() {
    let svc = service(&[]).await;
    let mut c = svc.client();
    let health = c.get("/healthz").await;
    assert_eq!(health.status, 200);
    let h = json(&health);
    assert_eq!(
        (
            h["status"].as_str(),
            h["backend"].as_str(),
            h["breaker"].as_str()
        ),
        (Some("ok"), Some("memory"), Some("closed"))
    );
    assert_eq!(h["reachable"], true);
    svc.miss(&mut c, "3", "").await;
    assert_eq!(c.get(&predictions("3")).await.x_cache(), Some("hit"));
    c.get(&predictions("404404")).await;
    let metrics = c.get("/metrics").await;
    assert_eq!(metrics.status, 200);
    assert!(
        metrics
            .header("content-type")
            .unwrap()
            .starts_with("text/plain")
    );
    let text = metrics.text();
    for needle in [
        "brain_http_requests_total{route=\"/v1/matches/{id}/predictions\",status=\"200\"} 2",
        "brain_http_requests_total{route=\"/v1/matches/{id}/predictions\",status=\"404\"} 1",
        "brain_http_request_duration_seconds_count{route=\"/v1/matches/{id}/predictions\"} 3",
        "brain_predictions_total{source=\"hit\"} 1",
        "brain_predictions_total{source=\"miss\"} 1",
        "brain_prediction_compute_seconds_count 1",
        "smartcache_hits_total{cache=\"predictions\"} 1",
        "smartcache_computes_total{cache=\"predictions\"} 1",
        "smartcache_breaker_state{cache=\"predictions\",state=\"closed\"} 1",
        "smartcache_breaker_state{cache=\"predictions\",state=\"open\"} 0",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in\n{text}");
    }
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_misses_compute_once_and_the_load_generator_reports() {
    let svc = service(&[]).await;
    let mut handles = Vec::new();
    for _ in 0..16 {
        let addr = svc.addr;
        handles.push(tokio::spawn(async move {
            Connection::new(addr).get(&predictions("5")).await.unwrap()
        }));
    }
    let mut bodies = Vec::new();
    for h in handles {
        let r = h.await.unwrap();
        assert_eq!(r.status, 200);
        bodies.push(r.body);
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(
        svc.state.cache().stats().computes,
        1,
        "single-flight: one fit for 16 callers"
    );

    // A short run of the load generator against this service.
    let options = brain_integration::load::LoadOptions {
        addr: svc.addr,
        concurrency: 4,
        warmup: std::time::Duration::ZERO,
        duration: std::time::Duration::from_millis(400),
        uncached_duration: std::time::Duration::from_millis(200),
        fixtures: 5,
        progress: false,
        ..Default::default()
    };
    let report = brain_integration::load::run(&options).await.unwrap();
    assert_eq!(report.keys, 15);
    assert!(report.cached.ok > 0 && report.cached.errors == 0);
    let uncached = report.uncached.as_ref().unwrap();
    assert_eq!(uncached.sources.keys().collect::<Vec<_>>(), ["bypass"]);
    assert_eq!(uncached.hit_ratio(), 0.0);
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matches_show_their_competition_and_results_find_theirs() {
    use brain_integration::domain::{InMemoryMatchStore, SyntheticLeagueConfig, synthetic_league};
    let league = synthetic_league(&SyntheticLeagueConfig {
        competitions: 2,
        teams: 4,
        seasons: 1,
        ..Default::default()
    })
    .unwrap();
    let store = Arc::new(InMemoryMatchStore::new(&league.results, league.fixtures).unwrap());
    let svc = TestService::start(
        store,
        Arc::new(MemoryBackend::new(1_000)),
        test_cache_config(),
    )
    .await;
    let mut c = svc.client();
    let list = json(&c.get("/v1/matches").await);
    let matches = list["matches"].as_array().unwrap();
    assert_eq!(matches.len(), 24);
    for name in ["Premier Division", "Northern League"] {
        assert_eq!(
            matches.iter().filter(|m| m["competition"] == name).count(),
            12,
            "{list}"
        );
    }
    // A result between two Northern League sides needs no `competition`: it is theirs.
    let northern = matches
        .iter()
        .find(|m| m["competition"] == "Northern League")
        .unwrap();
    let posted = c
        .post(
            "/v1/results",
            &json!({"date": "2022-06-01", "home": northern["home"], "away": northern["away"], "home_goals": 2, "away_goals": 2}),
        )
        .await;
    assert_eq!(posted.status, 201, "{}", posted.text());
    assert_eq!(json(&posted)["result"]["competition"], "Northern League");
    // Teams of two competitions never met: a clear 400 on `competition`.
    let premier = matches
        .iter()
        .find(|m| m["competition"] == "Premier Division")
        .unwrap();
    for body in [
        json!({"date": "2022-06-01", "home": premier["home"], "away": northern["away"], "home_goals": 1, "away_goals": 0}),
        json!({"date": "2022-06-01", "home": northern["home"], "away": northern["away"], "home_goals": 1, "away_goals": 0, "competition": "Premier Division"}),
        json!({"date": "2022-06-01", "home": northern["home"], "away": northern["away"], "home_goals": 1, "away_goals": 0, "competition": "Cup"}),
    ] {
        let r = c.post("/v1/results", &body).await;
        assert_eq!(r.status, 400, "{body}: {}", r.text());
        assert_eq!(
            json(&r)["error"]["parameter"],
            "competition",
            "{}",
            r.text()
        );
    }
    svc.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_predictions_answer_in_request_order_with_each_source_and_per_id_errors() {
    let svc = service(&[]).await;
    let mut c = svc.client();
    // Match 2 is cached by the single route first: the batch hits it and computes 1 and 3.
    let single = svc.miss(&mut c, "2", "").await;
    svc.assert_stored("2", "").await;
    let batch = c
        .get("/v1/predictions?match_ids=3,2,nope,1,3&model=dixon-coles")
        .await;
    assert_eq!(batch.status, 200, "{}", batch.text());
    let body = json(&batch);
    assert_eq!(body["count"], 5);
    let entries = body["predictions"].as_array().unwrap();
    let ids: Vec<&str> = entries
        .iter()
        .map(|e| e["match_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["3", "2", "nope", "1", "3"], "request order");
    let sources: Vec<Option<&str>> = entries.iter().map(|e| e["source"].as_str()).collect();
    assert_eq!(
        sources,
        [Some("miss"), Some("hit"), None, Some("miss"), Some("miss")]
    );
    assert_eq!(
        entries[1]["prediction"],
        json(&single),
        "the cached prediction"
    );
    assert_eq!(entries[0]["prediction"]["match_id"], "3");
    assert_eq!(entries[0]["prediction"], entries[4]["prediction"]);
    assert_eq!(entries[2]["error"]["code"], "unknown_match");
    assert_eq!(entries[2]["error"]["status"], 404);
    assert!(entries[2].get("prediction").is_none());
    // Stored: the same batch again is all hits, one of them per match.
    let again = json(&c.get("/v1/predictions?match_ids=1,3").await);
    for entry in again["predictions"].as_array().unwrap() {
        assert_eq!(entry["source"], "hit", "{entry}");
    }
    assert_eq!(
        svc.state.cache().stats().computes,
        2,
        "match 2 once, then 1 and 3 in one batch"
    );
    // The request itself must make sense.
    for bad in [
        "/v1/predictions",
        "/v1/predictions?match_ids=",
        "/v1/predictions?match_ids=1,,2",
        "/v1/predictions?match_ids=1&match_ids=2",
        "/v1/predictions?match_ids=1&max_goals=x",
    ] {
        let r = c.get(bad).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
    }
    let too_many: Vec<String> = (1..=101).map(|i| i.to_string()).collect();
    let r = c
        .get(&format!("/v1/predictions?match_ids={}", too_many.join(",")))
        .await;
    assert_eq!(r.status, 400);
    svc.stop().await;
}
