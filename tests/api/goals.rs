//! Journey goals with a conversion window, and conversion per version and per split
//! variant with the holdout's rate beside it (`GET /v1/workflows/{id}/stats`).

use crate::helpers::{TestApp, json};
use chrono::TimeDelta;
use kairos_engine::Event;
use kairos_engine::nodes::split::{HOLDOUT, Split};
use kairos_engine::scheduler::Incoming;
use serde_json::{Value, json};

/// An `api`-triggered journey: a split (A 40 %, B 40 %, holdout 20 %), then ten days of
/// waiting, so a purchase can arrive inside and outside the goal's seven-day window while
/// the run is still going.
fn offers(name: &str) -> Value {
    json!({
        "id": "offers",
        "name": name,
        "trigger": { "type": "api", "next": "offer" },
        "settings": { "reentry": "once", "goal": { "type": "event", "event": "purchase", "within": "7d" } },
        "nodes": [
            { "id": "offer", "type": "split",
              "variants": [ { "name": "A", "weight": 40, "next": "wait" }, { "name": "B", "weight": 40, "next": "wait" } ],
              "holdout": { "weight": 20, "next": "wait" } },
            { "id": "wait", "type": "delay", "duration": "10d", "next": "done" },
            { "id": "done", "type": "exit" }
        ]
    })
}

/// `want` contacts (`<prefix>-<n>`) whose entry the split sends to each group, in order,
/// found by asking the split itself (the pick is deterministic).
fn contacts_for(want: &[(&str, usize)], prefix: &str) -> Vec<(String, String)> {
    let mut node = offers("x")["nodes"][0].clone();
    node.as_object_mut().unwrap().remove("type");
    let split: Split = serde_json::from_value(node).unwrap();
    let mut out = Vec::new();
    for &(group, n) in want {
        let found = (0..10_000)
            .map(|i| format!("{prefix}-{i}"))
            .filter(|c| split.pick("offers", c, 1).0 == group)
            .filter(|c| !out.iter().any(|(o, _): &(String, String)| o == c))
            .take(n)
            .collect::<Vec<_>>();
        assert_eq!(found.len(), n, "{group}");
        out.extend(found.into_iter().map(|c| (c, group.to_string())));
    }
    out
}

async fn purchase(app: &TestApp, contact: &str) {
    let event = Event {
        name: "purchase".into(),
        properties: Default::default(),
        timestamp: app.scheduler.now(),
        message_id: None,
    };
    app.scheduler.ingest(vec![Incoming { contact_id: contact.into(), event }]).await.unwrap();
}

/// What the test expects of one group: entered and converted, counted while seeding.
#[derive(Default, Clone, Copy, Debug)]
struct Tally {
    entered: u64,
    converted: u64,
}

impl Tally {
    fn rate(self) -> f64 {
        self.converted as f64 / self.entered as f64
    }
}

fn close(got: &Value, want: f64, what: &str) {
    let got = got.as_f64().unwrap_or_else(|| panic!("{what}: not a number: {got}"));
    assert!((got - want).abs() < 1e-9, "{what}: got {got}, want {want}");
}

fn group<'a>(split: &'a Value, name: &str) -> &'a Value {
    split["variants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("{name}: {split}"))
}

#[tokio::test]
async fn conversion_per_version_and_split_variant_with_lift_over_the_holdout() {
    let app = TestApp::spawn().await;
    json(app.post("/v1/workflows", &offers("Offers")).await, 201).await;
    json(app.post("/v1/workflows/offers/publish", &json!({})).await, 201).await;

    // Version 1: 5 in A, 4 in B, 5 held out. Who buys when (days after entry):
    // inside the 7-day window (day 2) counts, after it (day 8, run still waiting) does not.
    let v1 = contacts_for(&[("A", 5), (HOLDOUT, 5), ("B", 4)], "v1");
    let plan_v1: Vec<(&str, usize, Option<i64>)> = vec![
        ("A", 0, Some(2)),
        ("A", 1, Some(2)),
        ("A", 2, Some(2)),
        ("A", 3, Some(8)),
        ("A", 4, None),
        (HOLDOUT, 0, Some(2)),
        (HOLDOUT, 1, Some(2)),
        (HOLDOUT, 2, Some(8)),
        (HOLDOUT, 3, None),
        (HOLDOUT, 4, None),
        ("B", 0, Some(2)),
        ("B", 1, Some(8)),
        ("B", 2, None),
        ("B", 3, None),
    ];
    let contact = |contacts: &[(String, String)], g: &str, i: usize| {
        contacts.iter().filter(|(_, group)| group == g).nth(i).unwrap().0.clone()
    };
    for (c, _) in &v1 {
        json(app.post("/v1/workflows/offers/runs", &json!({ "contact_id": c })).await, 201).await;
    }

    // Version 2 (one day later): one in A who buys, one held out who does not.
    app.advance(TimeDelta::days(1)).await;
    json(app.put("/v1/workflows/offers", &offers("Offers, second try")).await, 200).await;
    json(app.post("/v1/workflows/offers/publish", &json!({})).await, 201).await;
    let v2 = contacts_for(&[("A", 1), (HOLDOUT, 1)], "v2");
    for (c, _) in &v2 {
        json(app.post("/v1/workflows/offers/runs", &json!({ "contact_id": c })).await, 201).await;
    }

    // Day 2 of version 1's runs (day 1 of version 2's): the purchases inside the window.
    app.advance(TimeDelta::days(1)).await;
    for (g, i, day) in &plan_v1 {
        if *day == Some(2) {
            purchase(&app, &contact(&v1, g, *i)).await;
        }
    }
    purchase(&app, &contact(&v2, "A", 0)).await;
    // Day 8 of version 1's runs: purchases outside their window, while they still wait.
    app.advance(TimeDelta::days(6)).await;
    for (g, i, day) in &plan_v1 {
        if *day == Some(8) {
            purchase(&app, &contact(&v1, g, *i)).await;
        }
    }

    // The expected figures, from the plan alone.
    let mut tally_v1: std::collections::BTreeMap<&str, Tally> = Default::default();
    for (g, _, day) in &plan_v1 {
        let t = tally_v1.entry(g).or_default();
        t.entered += 1;
        t.converted += u64::from(day.is_some_and(|d| d <= 7));
    }
    let (a1, b1, h1) = (tally_v1["A"], tally_v1["B"], tally_v1[HOLDOUT]);
    assert_eq!((a1.converted, b1.converted, h1.converted), (3, 1, 2), "the plan itself");
    let (a2, h2) = (Tally { entered: 1, converted: 1 }, Tally { entered: 1, converted: 0 });
    let sum = |ts: &[Tally]| Tally {
        entered: ts.iter().map(|t| t.entered).sum(),
        converted: ts.iter().map(|t| t.converted).sum(),
    };
    let version1 = sum(&[a1, b1, h1]);
    let version2 = sum(&[a2, h2]);
    let all = sum(&[version1, version2]);

    // Every version.
    let stats = json(app.get("/v1/workflows/offers/stats").await, 200).await;
    assert_eq!(stats["goal_within"], "7d");
    assert_eq!(
        (stats["conversion"]["entered"].as_u64(), stats["conversion"]["converted"].as_u64()),
        (Some(all.entered), Some(all.converted))
    );
    close(&stats["conversion"]["rate"], all.rate(), "overall rate");
    assert_eq!(stats["runs"]["converted"], all.converted, "the run totals agree");
    let versions = stats["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2, "{stats}");
    for (v, (n, t)) in versions.iter().zip([(1, version1), (2, version2)]) {
        assert_eq!(
            (v["version"].as_u64(), v["entered"].as_u64(), v["converted"].as_u64()),
            (Some(n), Some(t.entered), Some(t.converted)),
            "{v}"
        );
        close(&v["rate"], t.rate(), &format!("version {n} rate"));
    }
    let splits = stats["splits"].as_array().unwrap();
    assert_eq!(splits.len(), 1, "{stats}");
    let split = &splits[0];
    assert_eq!(split["node"], "offer");
    let names: Vec<&str> = split["variants"].as_array().unwrap().iter().map(|v| v["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["A", "B"], "the split's order");
    let (a, b, h) = (sum(&[a1, a2]), b1, sum(&[h1, h2]));
    assert_eq!(
        (split["holdout"]["entered"].as_u64(), split["holdout"]["converted"].as_u64()),
        (Some(h.entered), Some(h.converted))
    );
    close(&split["holdout"]["rate"], h.rate(), "holdout rate");
    for (name, t) in [("A", a), ("B", b)] {
        let v = group(split, name);
        assert_eq!((v["entered"].as_u64(), v["converted"].as_u64()), (Some(t.entered), Some(t.converted)), "{name}");
        close(&v["rate"], t.rate(), &format!("{name} rate"));
        close(&v["lift"], (t.rate() - h.rate()) / h.rate(), &format!("{name} lift"));
        close(&v["lift_points"], (t.rate() - h.rate()) * 100.0, &format!("{name} points"));
    }

    // Version 1 alone: A 3/5 = 60 % against the holdout's 2/5 = 40 %: +50 %, +20 points.
    let stats = json(app.get("/v1/workflows/offers/stats?version=1").await, 200).await;
    assert_eq!(stats["versions"].as_array().unwrap().len(), 1);
    assert_eq!(stats["versions"][0]["version"], 1);
    close(&stats["conversion"]["rate"], version1.rate(), "version 1 rate");
    let split = &stats["splits"][0];
    close(&group(split, "A")["lift"], 0.5, "A lift in version 1");
    close(&group(split, "A")["lift_points"], 20.0, "A points in version 1");
    close(&group(split, "B")["lift"], -0.375, "B lift in version 1");
    close(&group(split, "B")["lift_points"], -15.0, "B points in version 1");

    // Version 2 alone: nobody in B (no rate, no lift), a holdout that converted nobody
    // (no relative lift, but the points difference).
    let stats = json(app.get("/v1/workflows/offers/stats?version=2").await, 200).await;
    let split = &stats["splits"][0];
    assert_eq!(group(split, "B")["entered"], 0);
    assert_eq!(
        (&group(split, "B")["rate"], &group(split, "B")["lift"], &group(split, "B")["lift_points"]),
        (&Value::Null, &Value::Null, &Value::Null)
    );
    close(&split["holdout"]["rate"], 0.0, "version 2 holdout rate");
    assert_eq!(group(split, "A")["lift"], Value::Null, "no relative lift over a rate of 0");
    close(&group(split, "A")["lift_points"], 100.0, "A points in version 2");
}

#[tokio::test]
async fn a_journey_without_splits_or_runs_has_empty_conversion_figures() {
    let app = TestApp::spawn().await;
    let mut doc = offers("Plain");
    doc["settings"]["goal"] = json!({ "type": "event", "event": "purchase" });
    doc["trigger"]["next"] = json!("wait");
    doc["nodes"] = json!([ { "id": "wait", "type": "delay", "duration": "1d", "next": "done" }, { "id": "done", "type": "exit" } ]);
    json(app.post("/v1/workflows", &doc).await, 201).await;
    let stats = json(app.get("/v1/workflows/offers/stats").await, 200).await;
    assert_eq!(stats["goal_within"], Value::Null);
    assert_eq!(stats["conversion"], json!({ "entered": 0, "converted": 0, "rate": null }));
    assert_eq!(stats["versions"], json!([]));
    assert_eq!(stats["splits"], json!([]));

    // A split without a holdout: each variant listed, the holdout and lifts null.
    let mut doc = offers("Offers");
    doc["nodes"][0]["variants"][0]["weight"] = json!(50);
    doc["nodes"][0]["variants"][1]["weight"] = json!(50);
    doc["nodes"][0].as_object_mut().unwrap().remove("holdout");
    json(app.put("/v1/workflows/offers", &doc).await, 200).await;
    json(app.post("/v1/workflows/offers/publish", &json!({})).await, 201).await;
    json(app.post("/v1/workflows/offers/runs", &json!({ "contact_id": "ann" })).await, 201).await;
    purchase(&app, "ann").await;
    let stats = json(app.get("/v1/workflows/offers/stats").await, 200).await;
    assert_eq!(stats["splits"][0]["holdout"], Value::Null);
    let variants = stats["splits"][0]["variants"].as_array().unwrap();
    assert_eq!(variants.iter().map(|v| v["entered"].as_u64().unwrap()).sum::<u64>(), 1);
    assert!(variants.iter().all(|v| v["lift"].is_null() && v["lift_points"].is_null()), "{variants:?}");
    assert_eq!(stats["conversion"], json!({ "entered": 1, "converted": 1, "rate": 1.0 }));
}
