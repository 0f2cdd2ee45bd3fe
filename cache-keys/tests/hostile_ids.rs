//! Ids with separators, braces, glob characters, whitespace, emoji and 10 kB of text: every one
//! gives a bounded, well-formed, unique key that stays in its namespace and its own hash tag.

mod common;

use std::collections::HashSet;

use cache_core::glob::matches;
use cache_keys::{KeyError, KeyFactory, MAX_KEY_LEN, hash_tag};
use common::{assert_well_formed, expected_tag, factory, hostile_ids, unescape};

#[test]
fn every_hostile_id_gives_a_well_formed_bounded_key_in_its_own_tag() {
    let f = factory();
    for id in hostile_ids() {
        let key = f.key_with_params("user", &id, &[1, 2, 3]).unwrap();
        let tag = assert_well_formed(&f, "user", &key);
        assert_eq!(tag, expected_tag(&id), "id {id:?}");
        assert!(key.len() <= MAX_KEY_LEN);
        if !tag.contains("%~") {
            assert_eq!(unescape(tag), id);
        }
    }
}

#[test]
fn hostile_ids_give_unique_keys_and_unique_tags() {
    let f = factory();
    let ids = hostile_ids();
    let keys: HashSet<String> = ids.iter().map(|id| f.key("user", id).unwrap()).collect();
    let tags: HashSet<String> = keys
        .iter()
        .map(|k| hash_tag(k).unwrap().to_owned())
        .collect();
    assert_eq!(keys.len(), ids.len());
    assert_eq!(tags.len(), ids.len());
}

#[test]
fn each_pattern_selects_exactly_its_own_id() {
    let f = factory();
    let ids = hostile_ids();
    let keys: Vec<String> = ids.iter().map(|id| f.key("user", id).unwrap()).collect();
    for (i, id) in ids.iter().enumerate() {
        let pattern = f.id_pattern("user", id).unwrap();
        assert!(pattern.len() <= MAX_KEY_LEN);
        for (j, key) in keys.iter().enumerate() {
            assert_eq!(
                matches(&pattern, key),
                i == j,
                "pattern {pattern:?} vs key {key:?}"
            );
        }
    }
}

#[test]
fn a_ten_kilobyte_id_is_shortened_inside_its_tag() {
    let f = factory();
    let id = "x".repeat(10 * 1024);
    let key = f.key("user", &id).unwrap();
    let tag = hash_tag(&key).unwrap();
    let (prefix, digest) = tag.split_once("%~").unwrap();
    assert_eq!(prefix, "x".repeat(222));
    assert_eq!(digest.len(), 32);
    assert!(key.len() <= MAX_KEY_LEN);
    // Every key of the long id shares the tag, so they share a slot.
    let with_params = f.key_with_params("user", &id, &"p").unwrap();
    assert_eq!(hash_tag(&with_params), Some(tag));
    assert_ne!(with_params, key);
}

#[test]
fn user_input_cannot_reach_another_namespace() {
    let app = factory();
    let other = KeyFactory::new("other", 1).unwrap();
    let evil = KeyFactory::new("evil", 9).unwrap();
    for id in hostile_ids() {
        let key = app.key("user", &id).unwrap();
        assert!(matches(&app.namespace_pattern(), &key));
        assert!(matches(&app.version_pattern(), &key));
        assert!(matches(&app.entity_pattern("user").unwrap(), &key));
        for foreign in [
            other.namespace_pattern(),
            evil.namespace_pattern(),
            evil.version_pattern(),
        ] {
            assert!(!matches(&foreign, &key), "{foreign:?} matched {key:?}");
        }
        assert!(!matches(&app.entity_pattern("other").unwrap(), &key));
        assert!(!matches(
            &KeyFactory::new("app", 2).unwrap().version_pattern(),
            &key
        ));
    }
}

#[test]
fn numeric_and_textual_ids_are_the_same_id() {
    let f = factory();
    assert_eq!(f.key("user", 42).unwrap(), f.key("user", "42").unwrap());
    assert_eq!(
        f.key("user", 42u8).unwrap(),
        f.key("user", String::from("42")).unwrap()
    );
}

#[test]
fn empty_id_is_a_clear_error() {
    let f = factory();
    assert_eq!(f.key("user", ""), Err(KeyError::EmptyId));
    assert_eq!(f.id_pattern("user", ""), Err(KeyError::EmptyId));
    assert!(KeyError::EmptyId.to_string().contains("empty"));
}
