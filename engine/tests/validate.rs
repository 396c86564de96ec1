//! The validator never panics, and what it reports always points somewhere real.

use kairos_engine::problem::Kind;
use kairos_engine::validate::validate_value;
use proptest::prelude::*;
use serde_json::Value;

fn examples() -> Vec<Value> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../workflows");
    let mut out: Vec<Value> = vec![];
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        if name.ends_with(".json") && !name.ends_with(".test.json") && !name.ends_with("schema.json") {
            out.push(serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap());
        }
    }
    out.sort_by_key(|v| v["id"].as_str().unwrap().to_string());
    out
}

/// Every location inside `v`, as JSON pointers.
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match v {
        Value::Object(m) => {
            m.iter().for_each(|(k, c)| pointers(c, format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")), out))
        }
        Value::Array(a) => a.iter().enumerate().for_each(|(i, c)| pointers(c, format!("{at}/{i}"), out)),
        _ => {}
    }
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        (-1e9f64..1e9).prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
        prop_oneof![Just("delay"), Just("exit"), Just("2h"), Just("{{#if}}"), Just("eq"), Just("contact.x")]
            .prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

#[derive(Debug, Clone)]
enum Mutation {
    Remove,
    Replace(Value),
    AddField(String, Value),
}

fn any_mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        Just(Mutation::Remove),
        any_json().prop_map(Mutation::Replace),
        ("[a-z_]{1,8}", any_json()).prop_map(|(k, v)| Mutation::AddField(k, v)),
    ]
}

fn apply(doc: &mut Value, pointer: &str, m: &Mutation) {
    if pointer.is_empty() {
        if let Mutation::Replace(v) = m {
            *doc = v.clone();
        }
        return;
    }
    let (parent, last) = pointer.rsplit_once('/').unwrap();
    let last = last.replace("~1", "/").replace("~0", "~");
    let Some(target) = doc.pointer_mut(parent) else { return };
    match (target, m) {
        (Value::Object(map), Mutation::Remove) => {
            map.remove(&last);
        }
        (Value::Array(items), Mutation::Remove) => {
            if let Ok(i) = last.parse::<usize>()
                && i < items.len()
            {
                items.remove(i);
            }
        }
        (_, Mutation::Replace(v)) => {
            if let Some(slot) = doc.pointer_mut(pointer) {
                *slot = v.clone();
            }
        }
        (_, Mutation::AddField(k, v)) => {
            if let Some(Value::Object(map)) = doc.pointer_mut(pointer) {
                map.insert(k.clone(), v.clone());
            }
        }
        (_, Mutation::Remove) => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]

    #[test]
    fn mutated_examples_never_panic_and_problems_point_into_the_document(
        which in 0usize..64,
        picks in prop::collection::vec((any::<prop::sample::Index>(), any_mutation()), 1..4),
    ) {
        let all = examples();
        let mut doc = all[which % all.len()].clone();
        for (index, mutation) in &picks {
            let mut ps = vec![];
            pointers(&doc, String::new(), &mut ps);
            let p = index.get(&ps).clone();
            apply(&mut doc, &p, mutation);
        }
        let mut inside = vec![];
        pointers(&doc, String::new(), &mut inside);
        if let Err(problems) = validate_value(doc.clone()) {
            prop_assert!(!problems.is_empty());
            for p in &problems {
                prop_assert!(!p.message.is_empty());
                // A missing field points at where it should be: its parent exists.
                let found = inside.contains(&p.pointer)
                    || (matches!(p.code, Kind::MissingField | Kind::MissingPort)
                        && inside.contains(&p.pointer.rsplit_once('/').map_or(String::new(), |(parent, _)| parent.to_string())));
                prop_assert!(found, "{} does not point into the document: {:?}", p.pointer, p);
            }
        }
    }

    #[test]
    fn arbitrary_json_never_panics(doc in any_json()) {
        let _ = validate_value(doc);
    }

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,200}") {
        let _ = kairos_engine::validate(&text);
    }
}

#[test]
fn every_example_is_valid_and_canonical() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../workflows");
    for doc in examples() {
        let id = doc["id"].as_str().unwrap().to_string();
        let text = std::fs::read_to_string(format!("{dir}/{id}.json")).unwrap();
        let library = kairos_engine::library::read_folder(&std::path::Path::new(dir).join("templates")).unwrap();
        assert!(
            library.files.iter().all(|(_, p)| p.is_empty()),
            "the example templates are valid: {:?}",
            library.files
        );
        let journey =
            kairos_engine::validate::validate_in(&text, &library.library).unwrap_or_else(|p| panic!("{id}: {p:#?}"));
        assert_eq!(journey.workflow().to_canonical(), text, "{id} is not canonical");
    }
}
