//! Property tests: order independence, no collisions, patterns that select exactly their id,
//! keys that stay in their namespace and hash tag.

mod common;

use std::collections::{HashMap, HashSet};

use cache_core::glob::matches;
use cache_keys::{KeyFactory, hash_tag};
use common::{assert_well_formed, expected_tag, factory, id, unescape};
use proptest::prelude::*;
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::{Number, Value};

/// A parameter tree whose objects serialize their fields in the order they are stored, so a
/// test can present the same parameters in different orders.
#[derive(Debug, Clone)]
enum Tree {
    Bool(bool),
    Int(i64),
    /// A number with a fractional part (a quarter), so JSON equality is canonical equality.
    Frac(f64),
    Str(String),
    Array(Vec<Tree>),
    /// Field names are distinct; values are never null (a null field is the same as none).
    Object(Vec<(String, Tree)>),
}

impl Serialize for Tree {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Tree::Bool(b) => s.serialize_bool(*b),
            Tree::Int(i) => s.serialize_i64(*i),
            Tree::Frac(f) => s.serialize_f64(*f),
            Tree::Str(v) => s.serialize_str(v),
            Tree::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                items.iter().try_for_each(|i| seq.serialize_element(i))?;
                seq.end()
            }
            Tree::Object(fields) => {
                let mut map = s.serialize_map(Some(fields.len()))?;
                fields
                    .iter()
                    .try_for_each(|(k, v)| map.serialize_entry(k, v))?;
                map.end()
            }
        }
    }
}

impl Tree {
    fn to_json(&self) -> Value {
        match self {
            Tree::Bool(b) => Value::Bool(*b),
            Tree::Int(i) => Value::from(*i),
            Tree::Frac(f) => Value::Number(Number::from_f64(*f).unwrap()),
            Tree::Str(v) => Value::String(v.clone()),
            Tree::Array(items) => Value::Array(items.iter().map(Tree::to_json).collect()),
            Tree::Object(fields) => {
                // Sorted first, so the JSON text is the same whatever serde_json's map type.
                let sorted: std::collections::BTreeMap<_, _> = fields
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_json()))
                    .collect();
                Value::Object(sorted.into_iter().collect())
            }
        }
    }

    /// The same tree with every object's fields permuted, driven by `seed`.
    fn shuffled(&self, seed: &mut u64) -> Tree {
        match self {
            Tree::Array(items) => Tree::Array(items.iter().map(|i| i.shuffled(seed)).collect()),
            Tree::Object(fields) => {
                let mut fields: Vec<_> = fields
                    .iter()
                    .map(|(k, v)| (k.clone(), v.shuffled(seed)))
                    .collect();
                for i in (1..fields.len()).rev() {
                    *seed ^= *seed << 13;
                    *seed ^= *seed >> 7;
                    *seed ^= *seed << 17;
                    fields.swap(i, (*seed % (i as u64 + 1)) as usize);
                }
                Tree::Object(fields)
            }
            leaf => leaf.clone(),
        }
    }
}

/// Short strings over an alphabet rich in the encoding's own delimiters, so that a canonical
/// form that were not prefix-free would show collisions.
fn small_string() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(vec!['a', 's', '1', ':', ';', '{', '[', 'n', 'é']),
        0..4,
    )
    .prop_map(String::from_iter)
}

fn tree() -> impl Strategy<Value = Tree> {
    let leaf = prop_oneof![
        any::<bool>().prop_map(Tree::Bool),
        (-300i64..300).prop_map(Tree::Int),
        any::<i64>().prop_map(Tree::Int),
        (-400i32..400).prop_map(|q| Tree::Frac(f64::from(q) + 0.25)),
        small_string().prop_map(Tree::Str),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Tree::Array),
            prop::collection::hash_map(small_string(), inner, 0..4)
                .prop_map(|m| Tree::Object(m.into_iter().collect())),
        ]
    })
}

/// Another id related to `id`: a prefix, an extension, or an unrelated one.
fn related_ids(id: &str, other: &str) -> Vec<String> {
    let mut ids = vec![
        other.to_owned(),
        format!("{id}2"),
        format!("{id}*"),
        format!("{id}:"),
    ];
    if let Some((i, _)) = id.char_indices().last().filter(|(i, _)| *i > 0) {
        ids.push(id[..i].to_owned());
    }
    ids.retain(|candidate| candidate != id && !candidate.is_empty());
    ids
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn field_order_never_changes_the_key(tree in tree(), seed in 1u64..) {
        let f = factory();
        let original = f.key_with_params("search", "q", &tree).unwrap();
        let shuffled = f.key_with_params("search", "q", &tree.shuffled(&mut { seed })).unwrap();
        let via_json = f.key_with_params("search", "q", &tree.to_json()).unwrap();
        prop_assert_eq!(&original, &shuffled);
        prop_assert_eq!(&original, &via_json);
    }

    #[test]
    fn integers_and_their_float_spelling_agree(n in -(1i64 << 53)..=(1i64 << 53)) {
        let f = factory();
        prop_assert_eq!(f.key_with_params("e", 1, &n).unwrap(), f.key_with_params("e", 1, &(n as f64)).unwrap());
    }

    #[test]
    fn key_stays_in_its_namespace_and_own_hash_tag(id in id(), tree in tree()) {
        let f = factory();
        let key = f.key_with_params("user", &id, &tree).unwrap();
        let tag = assert_well_formed(&f, "user", &key);
        prop_assert_eq!(tag, expected_tag(&id));
        if !tag.contains("%~") {
            prop_assert_eq!(unescape(tag), id);
        }
    }

    #[test]
    fn pattern_matches_own_id_and_no_other(id in id(), other in id(), tree in tree()) {
        let f = factory();
        let key = f.key_with_params("user", &id, &tree).unwrap();
        prop_assert!(matches(&f.id_pattern("user", &id).unwrap(), &key));
        prop_assert!(matches(&f.entity_pattern("user").unwrap(), &key));
        prop_assert!(matches(&f.version_pattern(), &key));
        prop_assert!(matches(&f.namespace_pattern(), &key));
        for candidate in related_ids(&id, &other) {
            let pattern = f.id_pattern("user", &candidate).unwrap();
            prop_assert!(!matches(&pattern, &key), "{:?} matched {:?}", pattern, key);
            let their_key = f.key_with_params("user", &candidate, &tree).unwrap();
            prop_assert_ne!(hash_tag(&their_key), hash_tag(&key));
        }
        let other_ns = KeyFactory::new("app2", 1).unwrap();
        prop_assert!(!matches(&other_ns.namespace_pattern(), &key));
        prop_assert!(!matches(&KeyFactory::new("app", 11).unwrap().version_pattern(), &key));
        prop_assert!(!matches(&f.entity_pattern("use").unwrap(), &key));
    }
}

/// A seeded generator of trees shaped like [`tree()`]'s, without proptest's shrinking machinery
/// (which makes 10^5 draws slow in a debug build).
struct SeededTrees(u64);

impl SeededTrees {
    /// splitmix64.
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn string(&mut self) -> String {
        const ALPHABET: [char; 9] = ['a', 's', '1', ':', ';', '{', '[', 'n', 'é'];
        (0..self.below(4))
            .map(|_| ALPHABET[self.below(9) as usize])
            .collect()
    }

    fn tree(&mut self, depth: u32) -> Tree {
        match self.below(if depth == 0 { 5 } else { 7 }) {
            0 => Tree::Bool(self.below(2) == 1),
            1 => Tree::Int(self.below(600) as i64 - 300),
            2 => Tree::Int(self.next() as i64),
            3 => Tree::Frac((self.below(800) as i32 - 400) as f64 + 0.25),
            4 => Tree::Str(self.string()),
            5 => Tree::Array((0..self.below(4)).map(|_| self.tree(depth - 1)).collect()),
            _ => {
                let mut fields: Vec<(String, Tree)> = Vec::new();
                for _ in 0..self.below(4) {
                    let name = self.string();
                    if !fields.iter().any(|(n, _)| *n == name) {
                        let value = self.tree(depth - 1);
                        fields.push((name, value));
                    }
                }
                Tree::Object(fields)
            }
        }
    }
}

/// 10^5 distinct parameter sets (distinct as JSON values, which for these trees is canonical
/// equality) give 10^5 distinct keys, and equal ones the same key.
#[test]
fn no_collision_among_100k_parameter_sets() {
    const SETS: usize = 100_000;
    let f = factory();
    let mut trees = SeededTrees(0x5eed);
    let mut by_value: HashMap<String, String> = HashMap::with_capacity(SETS);
    let mut repeats = 0;
    while by_value.len() < SETS {
        let tree = trees.tree(3);
        let value = serde_json::to_string(&tree.to_json()).unwrap();
        let key = f.key_with_params("search", "q", &tree).unwrap();
        if let Some(previous) = by_value.insert(value, key.clone()) {
            assert_eq!(previous, key, "equal parameters gave different keys");
            repeats += 1;
            assert!(repeats < 10 * SETS, "the generator repeats itself too much");
        }
    }
    // Equal values were drawn too, so the "same parameters, same key" direction was exercised.
    assert!(repeats > 0);
    let keys: HashSet<&String> = by_value.values().collect();
    assert_eq!(keys.len(), SETS, "distinct parameters shared a key");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, failure_persistence: None, ..ProptestConfig::default() })]

    /// Any text as an id: a well-formed key (or `EmptyId`), selected by its id pattern, whose tag
    /// is the documented escaping and unescapes back to the id unless shortened.
    #[test]
    fn any_text_is_an_id_or_the_empty_id_error(id in any::<String>()) {
        let f = factory();
        match f.key("user", &id) {
            Err(cache_keys::KeyError::EmptyId) => prop_assert!(id.is_empty()),
            Err(other) => prop_assert!(false, "{id:?}: {other:?}"),
            Ok(key) => {
                let tag = assert_well_formed(&f, "user", &key);
                prop_assert_eq!(tag, expected_tag(&id));
                if !tag.contains("%~") {
                    prop_assert_eq!(unescape(tag), id.clone());
                }
                prop_assert!(matches(&f.id_pattern("user", &id).unwrap(), &key));
            }
        }
        let _ = hash_tag(&id);
    }

    /// A name is accepted exactly when it is `[A-Za-z0-9_.-]{1,64}`, whatever the text.
    #[test]
    fn any_text_as_a_name_is_validated_not_panicked_on(
        name in prop_oneof![any::<String>(), "[A-Za-z0-9_.:{} -]{0,70}"],
    ) {
        let valid = (1..=64).contains(&name.len())
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
        prop_assert_eq!(KeyFactory::new(name.as_str(), 1).is_ok(), valid);
        prop_assert_eq!(factory().key(&name, 1).is_ok(), valid);
    }

    /// Parameters from arbitrary JSON text (what a request may carry): a key or a params error.
    #[test]
    fn any_json_parameters_give_a_key_or_an_error(text in "[\\[\\]{}\":,0-9a-z.eE+-]{0,40}") {
        if let Ok(value) = serde_json::from_str::<Value>(&text) {
            match factory().key_with_params("search", "q", &value) {
                Ok(_) | Err(cache_keys::KeyError::Params(_)) => {}
                Err(other) => prop_assert!(false, "{text:?}: {other:?}"),
            }
        }
    }
}
