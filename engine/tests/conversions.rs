//! Conversion figures from the store, on SQLite and PostgreSQL: the `run_variants` rows
//! that the migration fills from history already recorded and that every commit adds, and
//! the counts per version and per split variant read from them with `runs.converted_at`.

mod support;

use chrono::{DateTime, Utc};
use kairos_engine::contact::Event;
use kairos_engine::run::{Entry, NewRun, Run, Status, What};
use kairos_engine::store::entity::{run, run_history};
use kairos_engine::store::{self, Committed, Converted, Transition, millis};
use kairos_engine::time::parse_timestamp;
use kairos_migrations::{Migrator, MigratorTrait};
use sea_orm::{ActiveModelTrait, ActiveValue::NotSet, ActiveValue::Set, Database, DatabaseConnection};
use std::collections::{BTreeMap, BTreeSet};

const GOALS_MIGRATION: &str = "m20261214_000001_goals";

fn t0() -> DateTime<Utc> {
    parse_timestamp("2026-03-02T10:00:00Z").unwrap()
}

fn a_run(id: &str, version: u32, converted: bool) -> Run {
    let mut r = Run::new(
        "offers",
        NewRun {
            id: id.into(),
            version,
            contact: format!("contact-{id}"),
            entry: 1,
            correlation: None,
            trigger: Event::new("api", t0()),
        },
        t0(),
    );
    r.status = Status::Waiting;
    r.converted_at = converted.then(t0);
    r
}

/// A run row and its history as a version before the goals migration wrote them: a
/// `variant` entry at `node` (twice when `looped`, as a run passing the split again has).
async fn insert_old(db: &DatabaseConnection, r: &Run, node: &str, variant: &str, looped: bool) {
    run::ActiveModel {
        id: Set(r.id.clone()),
        workflow_id: Set(r.journey.clone()),
        version: Set(r.version as i32),
        contact_id: Set(r.contact.clone()),
        entry: Set(1),
        correlation: Set(None),
        status: Set("waiting".into()),
        node: Set(Some(node.into())),
        wake_at: Set(None),
        rev: Set(1),
        state: Set(serde_json::to_string(r).unwrap()),
        start_key: Set(None),
        started_at: Set(millis(r.started_at)),
        updated_at: Set(millis(r.started_at)),
        ended_at: Set(None),
        converted_at: Set(r.converted_at.map(millis)),
    }
    .insert(db)
    .await
    .unwrap();
    let holdout = variant == "holdout";
    for _ in 0..(1 + usize::from(looped)) {
        for (kind, data) in [
            ("node_entered", serde_json::json!({ "node_type": "split" })),
            ("variant", serde_json::json!({ "variant": variant, "holdout": holdout })),
        ] {
            run_history::ActiveModel {
                id: NotSet,
                run_id: Set(r.id.clone()),
                workflow_id: Set(r.journey.clone()),
                version: Set(r.version as i32),
                at: Set(millis(t0())),
                node: Set(Some(node.into())),
                kind: Set(kind.into()),
                data: Set(data.to_string()),
            }
            .insert(db)
            .await
            .unwrap();
        }
    }
}

fn c(entered: u64, converted: u64) -> Converted {
    Converted { entered, converted }
}

async fn conversions_from_old_history_and_new_commits(url: &str) {
    let db = Database::connect(url).await.unwrap();
    let before = Migrator::migrations().iter().position(|m| m.name() == GOALS_MIGRATION).expect("the goals migration");
    Migrator::up(&db, Some(before as u32)).await.unwrap();

    // Recorded before the migration: version 1, split `offer`.
    insert_old(&db, &a_run("r1", 1, true), "offer", "A", false).await;
    insert_old(&db, &a_run("r2", 1, false), "offer", "A", true).await;
    insert_old(&db, &a_run("r3", 1, true), "offer", "holdout", false).await;
    Migrator::up(&db, None).await.unwrap();

    // Committed after it: version 2, one run drawn B that converts, then loops back to
    // the split (the same variant is recorded again) in a later step.
    let mut r4 = a_run("r4", 2, false);
    let entry = |what: What| Entry { at: t0(), node: Some("offer".into()), what };
    let variant_b = || entry(What::Variant { variant: "B".into(), holdout: false });
    let first = Transition {
        run: r4.clone(),
        prev_rev: None,
        start_key: None,
        history: vec![variant_b()],
        effects: vec![],
        subscriptions: BTreeSet::new(),
        prev_subscriptions: None,
    };
    assert_eq!(store::commit(&db, &[first], t0()).await.unwrap(), [Committed::Ok]);
    r4.converted_at = Some(t0());
    let again = Transition {
        run: r4,
        prev_rev: Some(1),
        start_key: None,
        history: vec![entry(What::Converted { event: None }), variant_b()],
        effects: vec![],
        subscriptions: BTreeSet::new(),
        prev_subscriptions: None,
    };
    assert_eq!(store::commit(&db, &[again], t0()).await.unwrap(), [Committed::Ok]);
    // Another journey's runs do not count.
    let mut other = a_run("r5", 1, true);
    other.journey = "elsewhere".into();
    insert_old(&db, &other, "offer", "A", false).await;

    let all = store::conversions(&db, "offers", None).await.unwrap();
    assert_eq!(all.versions, BTreeMap::from([(1, c(3, 2)), (2, c(1, 1))]));
    assert_eq!(all.total(), c(4, 3));
    let offer = &all.variants["offer"];
    assert_eq!(offer, &BTreeMap::from([("A".into(), c(2, 1)), ("B".into(), c(1, 1)), ("holdout".into(), c(1, 1))]));

    let v2 = store::conversions(&db, "offers", Some(2)).await.unwrap();
    assert_eq!(v2.versions, BTreeMap::from([(2, c(1, 1))]));
    assert_eq!(v2.variants["offer"], BTreeMap::from([("B".into(), c(1, 1))]));
    assert_eq!(store::conversions(&db, "offers", Some(3)).await.unwrap(), store::Conversions::default());
    db.close().await.unwrap();
}

#[tokio::test]
async fn conversions_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    conversions_from_old_history_and_new_commits(&format!("sqlite://{}/k.db?mode=rwc", dir.path().display())).await;
}

#[tokio::test]
async fn conversions_on_postgresql() {
    let Some(pg) = support::TempPostgres::create().await else { return };
    let url = pg.url.clone();
    let result = tokio::spawn(async move { conversions_from_old_history_and_new_commits(&url).await }).await;
    pg.drop_now().await;
    if let Err(e) = result {
        std::panic::resume_unwind(e.into_panic());
    }
}
