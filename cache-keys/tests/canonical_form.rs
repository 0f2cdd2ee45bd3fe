//! What counts as the same parameters, and what does not.

mod common;

use std::collections::{BTreeMap, HashMap};

use cache_keys::{KeyError, MAX_PARAMS_DEPTH, canonical_bytes};
use common::factory;
use serde::Serialize;
use serde_json::json;

fn key<P: Serialize + ?Sized>(params: &P) -> String {
    factory().key_with_params("report", 7, params).unwrap()
}

#[derive(Serialize)]
struct Ab {
    a: u32,
    b: &'static str,
}

#[derive(Serialize)]
struct Ba {
    b: &'static str,
    a: u32,
}

#[test]
fn struct_field_order_and_map_order_do_not_matter() {
    let mut map = HashMap::new();
    map.insert("b", json!("x"));
    map.insert("a", json!(1));
    let expected = key(&Ab { a: 1, b: "x" });
    assert_eq!(key(&Ba { b: "x", a: 1 }), expected);
    assert_eq!(key(&map), expected);
    assert_eq!(key(&json!({"b": "x", "a": 1})), expected);
    assert_ne!(key(&Ab { a: 2, b: "x" }), expected);
}

#[test]
fn equal_numbers_are_equal_whatever_their_type() {
    assert_eq!(key(&1u8), key(&1.0f64));
    assert_eq!(key(&1i64), key(&1.0f32));
    assert_eq!(key(&0), key(&-0.0));
    assert_eq!(key(&-3i32), key(&-3.0f64));
    assert_eq!(key(&json!({"n": 1})), key(&json!({"n": 1.0})));
    assert_eq!(key(&u64::MAX), key(&u128::from(u64::MAX)));
    assert_eq!(key(&(1u128 << 100)), key(&2f64.powi(100)));
    assert_eq!(key(&i128::MIN), key(&-(2f64.powi(127))));
    assert_eq!(key(&f64::NAN), key(&-f64::NAN));
    assert_ne!(key(&1), key(&1.5));
    assert_ne!(key(&1), key(&"1"));
    assert_ne!(key(&1), key(&true));
    assert_ne!(key(&f64::INFINITY), key(&f64::NEG_INFINITY));
    assert_ne!(key(&0.1f32), key(&0.1f64)); // different values once widened
    assert_ne!(key(&(u64::MAX as u128 + 1)), key(&u64::MAX));
}

#[derive(Serialize)]
struct Skipping {
    q: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<&'static str>,
}

#[derive(Serialize)]
struct Explicit {
    q: &'static str,
    region: Option<&'static str>,
}

#[test]
fn skipped_and_null_fields_are_the_same() {
    let skipped = key(&Skipping {
        q: "x",
        region: None,
    });
    assert_eq!(
        key(&Explicit {
            q: "x",
            region: None
        }),
        skipped
    );
    assert_eq!(key(&json!({"q": "x", "region": null})), skipped);
    assert_eq!(key(&json!({"q": "x"})), skipped);
    assert_ne!(
        key(&Explicit {
            q: "x",
            region: Some("eu")
        }),
        skipped
    );
    // Inside an array a null keeps its place.
    assert_ne!(key(&json!([1, null])), key(&json!([1])));
}

#[derive(Serialize)]
enum Choice {
    Unit,
    A(Option<u8>),
    B(Option<u8>),
    Pair(u8, u8),
    Named { x: u8 },
}

#[test]
fn enum_variants_stay_apart() {
    let keys = [
        key(&Choice::Unit),
        key(&Choice::A(None)),
        key(&Choice::B(None)),
        key(&Choice::A(Some(1))),
        key(&Choice::Pair(1, 2)),
        key(&Choice::Named { x: 1 }),
        key(&()),
        key(&json!({})),
    ];
    let distinct: std::collections::HashSet<_> = keys.iter().collect();
    assert_eq!(distinct.len(), keys.len(), "{keys:#?}");
    // The JSON data model: a unit variant is its name, a tuple variant a one-field object.
    assert_eq!(key(&Choice::Unit), key(&"Unit"));
    assert_eq!(key(&Choice::Pair(1, 2)), key(&json!({"Pair": [1, 2]})));
}

#[test]
fn map_keys_are_strings() {
    let ints = BTreeMap::from([(1, "a"), (10, "b"), (2, "c")]);
    let strs = BTreeMap::from([("1", "a"), ("10", "b"), ("2", "c")]);
    assert_eq!(key(&ints), key(&strs));
    let err = canonical_bytes(&HashMap::from([(vec![1], 1)])).unwrap_err();
    assert!(
        matches!(err, KeyError::Params(ref m) if m.contains("map keys")),
        "{err}"
    );
}

#[test]
fn a_repeated_field_is_an_error() {
    #[derive(Serialize)]
    struct Inner {
        a: u8,
    }
    #[derive(Serialize)]
    struct Outer {
        a: Option<u8>,
        #[serde(flatten)]
        inner: Inner,
    }
    let err = canonical_bytes(&Outer {
        a: None,
        inner: Inner { a: 1 },
    })
    .unwrap_err();
    assert!(
        matches!(err, KeyError::Params(ref m) if m.contains("\"a\"")),
        "{err}"
    );
}

#[test]
fn nesting_is_bounded() {
    let mut ok = json!(1);
    for _ in 0..MAX_PARAMS_DEPTH {
        ok = json!([ok]);
    }
    assert!(canonical_bytes(&ok).is_ok());
    let too_deep = json!({ "x": ok });
    let err = canonical_bytes(&too_deep).unwrap_err();
    assert!(
        matches!(err, KeyError::Params(ref m) if m.contains("deeper")),
        "{err}"
    );
}

#[test]
fn a_failing_serialize_impl_is_reported() {
    struct Broken;
    impl Serialize for Broken {
        fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            Err(serde::ser::Error::custom("broken on purpose"))
        }
    }
    let err = factory().key_with_params("report", 7, &Broken).unwrap_err();
    assert_eq!(err, KeyError::Params("broken on purpose".to_owned()));
    let core: cache_core::CacheError = err.into();
    assert!(matches!(core, cache_core::CacheError::InvalidKey(ref m) if m.contains("broken")));
}

#[test]
fn strings_cannot_forge_structure() {
    // Each pair would collide under a naive concatenation of the parts.
    assert_ne!(key(&json!(["ab", "c"])), key(&json!(["a", "bc"])));
    assert_ne!(
        key(&json!({"a": "b", "c": "d"})),
        key(&json!({"a": "bs1:cs1:d"}))
    );
    assert_ne!(key(&json!([[], []])), key(&json!([[[]]])));
    assert_ne!(key(&json!("i1;")), key(&json!(1)));
    assert_ne!(key(&json!({"a": {}})), key(&json!({"a": []})));
}
