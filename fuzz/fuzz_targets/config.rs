//! Configuration from the environment: `CacheConfig::from_vars` and `RedisConfig::from_vars` on
//! any `NAME=value` lines give a config or an error naming the variable, never a panic; a
//! password in `REDIS_URL` never shows in the error or the config's `Debug`; and durations
//! written with each unit read back. Input: `NAME=value` lines.
#![no_main]

use std::time::Duration;

use cache_core::CacheConfig;
use cache_core::config::{MAX_DURATION, parse_duration};
use cache_redis::RedisConfig;
use libfuzzer_sys::fuzz_target;

/// Stands for a password: it must never appear in anything printed.
const SECRET: &str = "Pw0rdXyzzy";

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let vars: Vec<(&str, &str)> = text
        .lines()
        .map(|line| line.split_once('=').unwrap_or((line, "")))
        .collect();
    let _ = CacheConfig::from_vars(vars.iter().copied());
    if let Err(err) = RedisConfig::from_vars(vars.iter().copied()) {
        assert!(!err.to_string().is_empty());
    }

    for line in text.lines() {
        let _ = parse_duration(line);
        // `line` as everything around a password in a URL.
        let middle = (0..=line.len() / 2)
            .rev()
            .find(|&i| line.is_char_boundary(i))
            .unwrap_or(0);
        let (before, after) = line.split_at(middle);
        for scheme in ["redis", "rediss", "redis-cluster", "redis-sentinel"] {
            let url = format!("{scheme}://{before}:{SECRET}@{after}");
            match RedisConfig::from_url(&url) {
                Ok(config) => {
                    assert!(!format!("{config:?}").contains(SECRET), "{config:?}");
                    assert!(!config.redacted_url().contains(SECRET));
                }
                Err(err) => {
                    assert!(!err.to_string().contains(SECRET), "{err}");
                    assert!(!format!("{err:?}").contains(SECRET), "{err:?}");
                }
            }
        }
    }

    // Whole numbers in every unit read back (to what f64 arithmetic allows) up to
    // `MAX_DURATION`, and beyond it are an error.
    if let Some(chunk) = data.first_chunk::<4>() {
        let n = u64::from(u32::from_le_bytes(*chunk));
        let units: [(&str, Duration); 5] = [
            ("ms", Duration::from_millis(n)),
            ("s", Duration::from_secs(n)),
            ("m", Duration::from_secs(n * 60)),
            ("h", Duration::from_secs(n * 3600)),
            ("d", Duration::from_secs(n * 86_400)),
        ];
        for (unit, want) in units {
            match parse_duration(&format!("{n}{unit}")) {
                Ok(got) => {
                    let error = got.abs_diff(want).as_secs_f64();
                    assert!(
                        error <= want.as_secs_f64() * 1e-15 + 1e-9,
                        "{n}{unit}: {got:?}"
                    );
                }
                Err(e) => assert!(want > MAX_DURATION, "{n}{unit}: {e}"),
            }
        }
    }
});
