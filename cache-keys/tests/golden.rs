//! Golden vectors: fixed inputs give these exact keys on every platform and release. A failure
//! here means the canonical form, the hash or the key layout changed — and every key already
//! stored in production would be missed. Do not update a vector; bump the schema version of the
//! affected caches instead, or restore the old behaviour.
//!
//! Each digest was checked against the reference C library: `XXH3_128bits` of libxxhash 0.8.1
//! applied to the canonical bytes pinned next to it, printed high 64 bits first.

use cache_keys::{KeyFactory, canonical_bytes};
use serde::Serialize;
use serde_json::json;

fn app_v1() -> KeyFactory {
    KeyFactory::new("app", 1).unwrap()
}

#[test]
fn key_without_params_hashes_null() {
    assert_eq!(canonical_bytes(&()).unwrap(), b"n");
    assert_eq!(
        app_v1().key("user", 42).unwrap(),
        "app:v1:user:{42}:c311d21b3583875acbaa0f6724ae8b0a"
    );
}

#[test]
fn nested_params() {
    let params = json!({"b": [1, 2.5, null], "a": "x"});
    assert_eq!(
        canonical_bytes(&params).unwrap(),
        b"{s1:as1:xs1:b[i1;d4004000000000000n]}"
    );
    assert_eq!(
        app_v1().key_with_params("user", 42, &params).unwrap(),
        "app:v1:user:{42}:158d341f0ff823882aea0b62ecff4792"
    );
}

#[derive(Serialize)]
struct Forecast {
    model: &'static str,
    horizon_days: f32,
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<&'static str>,
}

#[test]
fn struct_params_and_escaped_id() {
    let params = Forecast {
        model: "arima",
        horizon_days: 7.0,
        region: None,
    };
    assert_eq!(
        canonical_bytes(&params).unwrap(),
        b"{s12:horizon_daysi7;s5:models5:arima}"
    );
    assert_eq!(
        app_v1()
            .key_with_params("prediction", "sensor:7", &params)
            .unwrap(),
        "app:v1:prediction:{sensor%3A7}:ca23392fc8ddc8e6170356e59a10bdb9"
    );
}

#[test]
fn unicode_id_and_array_params() {
    let params = ("q", -3, true);
    assert_eq!(canonical_bytes(&params).unwrap(), b"[s1:qi-3;t]");
    assert_eq!(
        app_v1()
            .key_with_params("search", "🦀 rust*", &params)
            .unwrap(),
        "app:v1:search:{🦀%20rust%2A}:1c14929abe4f5da0c1c4ac8f25b22a1f"
    );
}

#[test]
fn long_id_is_shortened_with_the_digest_of_the_whole_id() {
    let key = app_v1().key("user", "x".repeat(10 * 1024)).unwrap();
    let expected = format!(
        "app:v1:user:{{{}%~63ad90f6f46df510759d6e6dd371d6f4}}:c311d21b3583875acbaa0f6724ae8b0a",
        "x".repeat(222)
    );
    assert_eq!(key, expected);
}

#[test]
fn version_is_part_of_the_key() {
    let v2 = KeyFactory::new("app", 2).unwrap();
    assert_eq!(
        v2.key("user", 42).unwrap(),
        "app:v2:user:{42}:c311d21b3583875acbaa0f6724ae8b0a"
    );
}

#[test]
fn patterns() {
    let f = app_v1();
    assert_eq!(f.id_pattern("user", "4*").unwrap(), "app:v1:user:{4%2A}:*");
    assert_eq!(
        f.id_pattern("user", "a b").unwrap(),
        "app:v1:user:{a%20b}:*"
    );
    assert_eq!(f.entity_pattern("user").unwrap(), "app:v1:user:*");
    assert_eq!(f.version_pattern(), "app:v1:*");
    assert_eq!(f.namespace_pattern(), "app:*");
}

#[test]
fn canonical_numbers() {
    assert_eq!(canonical_bytes(&-0.0).unwrap(), b"i0;");
    assert_eq!(
        canonical_bytes(&u128::MAX).unwrap(),
        b"i340282366920938463463374607431768211455;"
    );
    assert_eq!(
        canonical_bytes(&i128::MIN).unwrap(),
        b"i-170141183460469231731687303715884105728;"
    );
    assert_eq!(canonical_bytes(&f64::NAN).unwrap(), b"d7ff8000000000000");
    assert_eq!(
        canonical_bytes(&f64::NEG_INFINITY).unwrap(),
        b"dfff0000000000000"
    );
    assert_eq!(canonical_bytes(&1e300).unwrap(), b"d7e37e43c8800759c");
    assert_eq!(canonical_bytes(&0.5f32).unwrap(), b"d3fe0000000000000");
}

#[test]
fn canonical_strings_and_variants() {
    #[derive(Serialize)]
    enum E {
        Unit,
        Wrap(Option<u8>),
    }
    assert_eq!(canonical_bytes(&"é:").unwrap(), "s3:é:".as_bytes());
    assert_eq!(canonical_bytes(&'a').unwrap(), b"s1:a");
    assert_eq!(canonical_bytes(&E::Unit).unwrap(), b"s4:Unit");
    assert_eq!(canonical_bytes(&E::Wrap(None)).unwrap(), b"{s4:Wrapn}");
    assert_eq!(canonical_bytes(&serde_bytes_like()).unwrap(), b"[i0;i255;]");
    assert_eq!(canonical_bytes(&json!({})).unwrap(), b"{}");
    assert_eq!(canonical_bytes(&Vec::<u8>::new()).unwrap(), b"[]");
}

/// Something that serializes through `serialize_bytes`.
fn serde_bytes_like() -> impl Serialize {
    struct Bytes;
    impl Serialize for Bytes {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(&[0, 255])
        }
    }
    Bytes
}
