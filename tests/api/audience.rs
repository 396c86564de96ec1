//! Segments, audience settings and the lifecycle report over HTTP. The report's figures are
//! checked against a small model of the stage rules run over the same seeded data.

use crate::helpers::{TestApp, json, problem};
use chrono::TimeDelta;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

const DAY0: &str = "2026-03-02"; // a Monday

/// Purchase days (from day 0, at 10:00 UTC) of each contact; every contact is a `lead` from day 0.
fn purchases() -> BTreeMap<&'static str, Vec<i64>> {
    BTreeMap::from([
        ("c0", vec![1]),
        ("c1", vec![2, 9]),
        ("c2", vec![3, 20, 85]),
        ("c3", vec![]),
        ("c4", vec![5, 6]),
        ("c5", vec![10, 17, 24, 31]),
        ("c6", vec![15, 80]),
        ("c7", vec![40]),
        ("c8", vec![0]),
        ("c9", vec![50, 57, 64]),
    ])
}

const DAYS: i64 = 91;

fn settings() -> Value {
    json!({"stages": ["lead", "customer", "repeat_customer", "lapsed", "reactivated"],
        "stage_rules": [
            {"to": "customer", "event": "purchase", "from": [null, "lead"]},
            {"to": "reactivated", "event": "purchase", "from": ["lapsed"]},
            {"to": "repeat_customer", "from": ["customer"],
             "condition": {"performed": "purchase", "measure": "count", "op": "gte", "right": 2}},
            {"to": "lapsed", "from": ["customer", "repeat_customer", "reactivated"],
             "condition": {"performed": "purchase", "measure": "last_at", "op": "more_than_ago", "right": "60d"}}],
        "scoring": null, "rfm": null})
}

/// A stage change on a day: (day, from, to).
type Change = (i64, Option<String>, String);

/// The stage rules above, played day by day: every change, and the final stages.
fn model() -> (Vec<Change>, BTreeMap<String, String>) {
    let mut changes = Vec::new();
    let mut finals = BTreeMap::new();
    for (id, days) in purchases() {
        let mut stage = "lead".to_string();
        changes.push((0, None, stage.clone()));
        let (mut count, mut last) = (0, None::<i64>);
        for d in 0..DAYS {
            let mut to = None;
            if days.contains(&d) {
                count += 1;
                last = Some(d);
                to = match stage.as_str() {
                    "lead" => Some("customer"),
                    "lapsed" => Some("reactivated"),
                    "customer" if count >= 2 => Some("repeat_customer"),
                    _ => None,
                };
            } else if ["customer", "repeat_customer", "reactivated"].contains(&stage.as_str())
                && last.is_some_and(|l| d - l > 60)
            {
                to = Some("lapsed");
            }
            if let Some(to) = to {
                changes.push((d, Some(stage.clone()), to.to_string()));
                stage = to.to_string();
            }
        }
        finals.insert(id.to_string(), stage);
    }
    (changes, finals)
}

fn day(d: i64) -> String {
    let start = chrono::NaiveDate::parse_from_str(DAY0, "%Y-%m-%d").unwrap();
    format!("{}T00:00:00Z", start + TimeDelta::days(d))
}

#[tokio::test]
async fn the_lifecycle_report_matches_the_rules_played_over_the_seeded_data() {
    let app = TestApp::spawn().await;
    json(app.put("/v1/audience", &settings()).await, 200).await;
    // A journey with a goal: a purchase starts it (once per contact), a review within its
    // 30-day wait converts it.
    let thanks = json!({"id": "first-order-thanks", "name": "First order thanks",
        "trigger": {"type": "event", "event": "purchase", "next": "wait"},
        "settings": {"goal": {"type": "event", "event": "review_posted"}},
        "nodes": [{"id": "wait", "type": "delay", "duration": "30d", "next": "done"}, {"id": "done", "type": "exit"}]});
    json(app.post("/v1/workflows", &thanks).await, 201).await;
    json(app.post("/v1/workflows/first-order-thanks/publish", &json!({})).await, 201).await;
    let reviews: BTreeMap<&str, i64> = BTreeMap::from([("c1", 12), ("c5", 45), ("c3", 5), ("c9", 60)]);
    let bought = purchases();
    for d in 0..DAYS {
        if d > 0 {
            app.clock.advance(TimeDelta::days(1));
        }
        if d == 0 {
            for id in bought.keys() {
                let body =
                    json!({"userId": id, "traits": {"email": format!("{id}@example.com"), "lifecycle_stage": "lead"}});
                json(app.post("/v1/identify", &body).await, 200).await;
            }
        }
        for (id, days) in &bought {
            if days.contains(&d) {
                let body = json!({"userId": id, "event": "purchase", "properties": {"amount": 10 + d}});
                json(app.post("/v1/track", &body).await, 200).await;
            }
        }
        for (id, _) in reviews.iter().filter(|(_, r)| **r == d) {
            json(app.post("/v1/track", &json!({"userId": id, "event": "review_posted"})).await, 200).await;
        }
        app.tick().await;
        app.scheduler.audience_tick().await.unwrap();
    }
    let (changes, finals) = model();

    let report =
        json(app.get(&format!("/v1/reports/lifecycle?from={}&to={}&interval=day", day(0), day(DAYS))).await, 200).await;

    // Contacts per stage now, in the settings' order.
    let stages: Vec<(Value, u64)> = report["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["stage"].clone(), s["contacts"].as_u64().unwrap()))
        .collect();
    let expected: Vec<(Value, u64)> = ["lead", "customer", "repeat_customer", "lapsed", "reactivated"]
        .iter()
        .map(|s| (json!(s), finals.values().filter(|f| f == s).count() as u64))
        .collect();
    assert_eq!(stages, expected);

    // Transitions per day and (from, to).
    let mut want: BTreeMap<(String, Option<String>, String), u64> = BTreeMap::new();
    for (d, from, to) in &changes {
        *want.entry((day(*d), from.clone(), to.clone())).or_default() += 1;
    }
    let mut got: BTreeMap<(String, Option<String>, String), u64> = BTreeMap::new();
    for t in report["transitions"].as_array().unwrap() {
        let period = t["period"].as_str().unwrap().replace(".000Z", "Z");
        let from = t["from"].as_str().map(str::to_owned);
        got.insert((period, from, t["to"].as_str().unwrap().to_string()), t["count"].as_u64().unwrap());
    }
    assert_eq!(got, want);

    // Retention: cohorts by the week of the first purchase; share buying again in each later week.
    let mut cohorts: BTreeMap<i64, Vec<BTreeSet<i64>>> = BTreeMap::new();
    for days in bought.values().filter(|d| !d.is_empty()) {
        let first = *days.iter().min().unwrap();
        cohorts.entry(first / 7).or_default().push(days.iter().map(|d| d / 7).collect());
    }
    let expected: Vec<Value> = cohorts
        .iter()
        .map(|(week, members)| {
            let shares: Vec<f64> = (week + 1..)
                .take_while(|w| w * 7 < DAYS)
                .map(|w| members.iter().filter(|m| m.contains(&w)).count() as f64 / members.len() as f64)
                .collect();
            json!({"week": day(week * 7)[..10], "size": members.len(), "weeks": shares})
        })
        .collect();
    assert_eq!(report["retention"]["event"], "purchase");
    assert_eq!(report["retention"]["cohorts"], json!(expected));

    // Goal conversion: every purchaser entered once; a review during their 30 days converts.
    let first: BTreeMap<&str, i64> =
        bought.iter().filter_map(|(id, days)| days.iter().min().map(|f| (*id, *f))).collect();
    let converted = reviews.iter().filter(|(id, r)| first.get(*id).is_some_and(|f| *f <= **r && **r < f + 30)).count();
    assert_eq!(
        report["goals"],
        json!([{"workflow": "first-order-thanks", "name": "First order thanks", "entered": first.len(),
                "converted": converted, "rate": converted as f64 / first.len() as f64}])
    );

    // One contact's history, with causes.
    let c2 = json(app.get("/v1/contacts/c2/stages").await, 200).await;
    let steps: Vec<(Value, Value)> =
        c2["changes"].as_array().unwrap().iter().map(|c| (c["from"].clone(), c["to"].clone())).collect();
    assert_eq!(
        steps,
        [
            (json!(null), json!("lead")),
            (json!("lead"), json!("customer")),
            (json!("customer"), json!("repeat_customer")),
            (json!("repeat_customer"), json!("lapsed")),
            (json!("lapsed"), json!("reactivated"))
        ]
    );
    assert_eq!(c2["changes"][0]["cause"], "identify");
    assert!(c2["changes"][3]["cause"].as_str().unwrap().contains("stage rule 3"), "{c2}");
    // Lapsed on day 81, 61 days after the purchase of day 20.
    assert!(c2["changes"][3]["at"].as_str().unwrap().starts_with("2026-05-22T10:00:00"), "{c2}");
}

#[tokio::test]
async fn bad_audience_settings_and_report_queries_are_named() {
    let app = TestApp::spawn().await;
    let body = problem(
        app.put("/v1/audience", &json!({"stages": ["lead"], "stage_rules": [{"to": "customer", "event": "purchase"}]}))
            .await,
        422,
        "invalid_audience_settings",
    )
    .await;
    assert_eq!(body["errors"][0]["pointer"], "/stage_rules/0/to", "{body}");
    let body = problem(
        app.put("/v1/audience", &json!({"stages": ["lead"], "scoring": {"rules": [], "decay": 5}})).await,
        422,
        "invalid_audience_settings",
    )
    .await;
    assert!(body["errors"][0]["pointer"].as_str().unwrap().starts_with("/scoring"), "{body}");
    // Nothing was stored: the defaults are still there.
    let stored = json(app.get("/v1/audience").await, 200).await;
    assert_eq!(stored["stages"].as_array().unwrap().len(), 8);
    assert_eq!(stored["scoring"], Value::Null);
    problem(app.get("/v1/reports/lifecycle?interval=month").await, 400, "invalid_query").await;
    problem(app.get("/v1/reports/lifecycle?from=2026-03-10&to=2026-03-01").await, 400, "invalid_query").await;
    problem(app.get("/v1/contacts/nobody/stages").await, 404, "not_found").await;
}

#[tokio::test]
async fn segments_are_validated_previewed_filled_and_guarded() {
    let app = TestApp::spawn().await;
    for (id, amount) in [("ann", 30), ("bob", 700), ("cat", 0)] {
        json(
            app.post("/v1/identify", &json!({"userId": id, "traits": {"email": format!("{id}@example.com")}})).await,
            200,
        )
        .await;
        if amount > 0 {
            let body = json!({"userId": id, "event": "purchase", "properties": {"amount": amount}});
            json(app.post("/v1/track", &body).await, 200).await;
        }
    }
    app.scheduler.run_audience().await.unwrap();

    // Problems name the place.
    let body = problem(
        app.post("/v1/segments", &json!({"id": "big", "name": "Big", "condition": {"performed": "purchase", "measure": "sum", "op": "gte", "right": 500}})).await,
        422,
        "invalid_segment",
    )
    .await;
    assert_eq!(body["errors"][0]["pointer"], "/condition", "{body}");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("property"), "{body}");
    let body = problem(
        app.post("/v1/segments", &json!({"id": "Big!", "name": "Big", "condition": {"all": [{"performed": "purchase", "measure": "total", "op": "gte", "right": 1}]}})).await,
        422,
        "invalid_segment",
    )
    .await;
    assert_eq!(body["errors"][0]["pointer"], "/condition/all/0/measure", "{body}");
    let body = problem(
        app.post("/v1/segments/preview", &json!({"condition": {"left": "contact.tags", "op": "gt", "right": 1}})).await,
        422,
        "invalid_condition",
    )
    .await;
    assert_eq!(body["errors"][0]["pointer"], "/condition/op", "{body}");
    // `preview` is no segment id: `POST /v1/segments/preview` is the preview.
    let body = problem(
        app.post("/v1/segments", &json!({"id": "preview", "name": "Preview", "condition": {"left": "contact.plan", "op": "eq", "right": "pro"}})).await,
        422,
        "invalid_segment",
    )
    .await;
    assert_eq!(body["errors"][0]["pointer"], "/id", "{body}");

    // A preview counts without saving.
    let big = json!({"performed": "purchase", "measure": "sum", "property": "amount", "op": "gte", "right": 500});
    let preview = json(app.post("/v1/segments/preview", &json!({"condition": big})).await, 200).await;
    assert_eq!(preview, json!({"size": 1, "sample": ["bob"]}));
    let buyers = json!({"performed": "purchase", "measure": "count", "op": "gte", "right": 1});
    let created =
        json(app.post("/v1/segments", &json!({"id": "buyers", "name": "Buyers", "condition": buyers})).await, 201)
            .await;
    assert_eq!(created["condition"], buyers);
    problem(
        app.post("/v1/segments", &json!({"id": "buyers", "name": "Again", "condition": buyers})).await,
        409,
        "segment_exists",
    )
    .await;
    app.scheduler.reevaluate_all().await.unwrap();
    let members = json(app.get("/v1/segments/buyers/contacts?limit=1").await, 200).await;
    assert_eq!(members["contacts"][0]["id"], "ann");
    assert_eq!(members["next"], "ann");
    let rest = json(app.get("/v1/segments/buyers/contacts?limit=1&after=ann").await, 200).await;
    assert_eq!(rest["contacts"][0]["id"], "bob");
    assert_eq!(rest["next"], Value::Null);
    assert_eq!(json(app.get("/v1/segments/buyers").await, 200).await["size"], 2);

    // Cat buys the next day: she enters; the size series shows it.
    app.clock.advance(TimeDelta::days(1));
    json(app.post("/v1/track", &json!({"userId": "cat", "event": "purchase", "properties": {"amount": 5}})).await, 200)
        .await;
    app.scheduler.run_audience().await.unwrap();
    let sizes = json(app.get("/v1/segments/buyers/sizes?from=2026-03-02&to=2026-03-04").await, 200).await;
    let points: Vec<(u64, u64)> = sizes["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["size"].as_u64().unwrap(), p["entered"].as_u64().unwrap()))
        .collect();
    assert_eq!(points, [(2, 2), (3, 1)]);

    // Journeys: an unknown segment cannot be published; a used one cannot be deleted.
    let journey = |segment: &str| {
        json!({"id": format!("j-{segment}"), "name": "J", "trigger": {"type": "segment_entered", "segment": segment, "next": "done"},
               "nodes": [{"id": "done", "type": "exit"}]})
    };
    json(app.post("/v1/workflows", &journey("nobody")).await, 201).await;
    let body = problem(app.post("/v1/workflows/j-nobody/publish", &json!({})).await, 422, "invalid_workflow").await;
    assert_eq!(body["errors"][0]["pointer"], "/trigger/segment", "{body}");
    json(app.post("/v1/workflows", &journey("buyers")).await, 201).await;
    json(app.post("/v1/workflows/j-buyers/publish", &json!({})).await, 201).await;
    problem(app.delete("/v1/segments/buyers").await, 409, "segment_in_use").await;
    assert_eq!(json(app.get("/v1/segments").await, 200).await["segments"][0]["size"], 3);
    problem(app.delete("/v1/segments/nothing").await, 404, "not_found").await;
}
