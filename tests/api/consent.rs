//! Consent end to end, on the real server: topics, a contact's subscriptions, the public
//! unsubscribe page reached from a rendered message, and the email providers' bounce and
//! complaint webhooks suppressing addresses.

use crate::helpers::{TestApp, json, problem};
use reqwest::{Method, Response};
use serde_json::{Value, json};

/// A marketing email with an unsubscribe link, a transactional receipt, and a marketing
/// SMS about the topic `tips`; `always` re-entry so a contact can go through again.
fn promo() -> Value {
    json!({
        "id": "promo", "name": "Promo",
        "trigger": { "type": "api", "next": "sale" },
        "settings": { "reentry": "always" },
        "nodes": [
            { "id": "sale", "type": "send",
              "message": { "channel": "email", "subject": "Spring sale",
                           "body": "<p>50% off.</p><p><a href=\"{{unsubscribe_url}}\">Unsubscribe</a></p>" },
              "next": "receipt" },
            { "id": "receipt", "type": "send", "transactional": true,
              "message": { "channel": "email", "subject": "Your receipt", "body": "<p>Thanks for your order.</p>" },
              "next": "tip" },
            { "id": "tip", "type": "send", "topic": "tips",
              "message": { "channel": "sms", "body": "Tip: stack coupons. Stop: {{unsubscribe_url}}" },
              "next": "done" },
            { "id": "done", "type": "exit" }
        ]
    })
}

async fn setup(app: &TestApp) {
    let topic = json!({ "id": "tips", "name": "Shopping tips", "description": "A tip a week" });
    json(app.post("/v1/topics", &topic).await, 201).await;
    json(app.post("/v1/workflows", &promo()).await, 201).await;
    json(app.post("/v1/workflows/promo/publish", &json!({})).await, 201).await;
}

/// Start a run for `contact` and deliver what it sends; returns the run.
async fn run(app: &TestApp, contact: &str, email: &str) -> Value {
    let body = json!({ "contact_id": contact, "attributes": { "email": email, "phone": "+15550100" } });
    let run = json(app.post("/v1/workflows/promo/runs", &body).await, 201).await;
    app.tick().await;
    json(app.get(&format!("/v1/runs/{}", run["id"].as_str().unwrap())).await, 200).await
}

/// The nodes whose messages reached the inbox for `run`.
async fn delivered(app: &TestApp, run: &Value) -> Vec<String> {
    let page = json(app.get(&format!("/v1/messages?run={}", run["id"].as_str().unwrap())).await, 200).await;
    page["data"].as_array().unwrap().iter().map(|m| m["node"].as_str().unwrap().to_string()).collect()
}

/// (node, reason) of every timeline entry of `kind`.
fn entries(run: &Value, kind: &str) -> Vec<(String, String)> {
    run["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["type"] == kind)
        .map(|e| {
            (e["node"].as_str().unwrap_or_default().to_string(), e["reason"].as_str().unwrap_or_default().to_string())
        })
        .collect()
}

/// The message `node` of `run` as delivered.
async fn message(app: &TestApp, run: &Value, node: &str) -> Value {
    let page = json(app.get(&format!("/v1/messages?run={}", run["id"].as_str().unwrap())).await, 200).await;
    page["data"].as_array().unwrap().iter().find(|m| m["node"] == node).expect("the message")["message"].clone()
}

/// The first unsubscribe link in `text`.
fn link_in(app: &TestApp, text: &str) -> String {
    let start = text.find(&format!("{}/unsubscribe/", app.address)).expect("an unsubscribe link");
    text[start..].split(['"', ' ', '<']).next().unwrap().to_string()
}

async fn page(app: &TestApp, method: Method, url: &str, form: &str) -> (u16, String) {
    let mut req = app.client.request(method, url);
    if !form.is_empty() {
        req = req.header("content-type", "application/x-www-form-urlencoded").body(form.to_string());
    }
    let r: Response = req.send().await.unwrap();
    let status = r.status().as_u16();
    let content_type = r.headers()["content-type"].to_str().unwrap().to_string();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert_eq!(r.headers()["cache-control"], "no-store");
    (status, r.text().await.unwrap())
}

async fn subscriptions(app: &TestApp, contact: &str) -> Value {
    json(app.get(&format!("/v1/contacts/{contact}/subscriptions")).await, 200).await
}

#[tokio::test]
async fn a_contact_unsubscribes_through_the_link_of_a_message_and_only_transactional_email_follows() {
    let app = TestApp::spawn().await;
    setup(&app).await;
    let first = run(&app, "ann", "ann@example.com").await;
    assert_eq!(delivered(&app, &first).await, ["sale", "receipt", "tip"]);

    // The marketing email carries the link in its body and for List-Unsubscribe; the
    // transactional one has no List-Unsubscribe.
    let sale = message(&app, &first, "sale").await;
    let link = link_in(&app, sale["body"].as_str().unwrap());
    assert_eq!(sale["unsubscribe_url"], link.as_str());
    assert!(message(&app, &first, "receipt").await.get("unsubscribe_url").is_none());

    // GET shows what stops, and changes nothing.
    let (status, html) = page(&app, Method::GET, &link, "").await;
    assert_eq!(status, 200);
    assert!(html.contains("Unsubscribe?") && html.contains("marketing email"), "{html}");
    assert!(html.contains("<form method=\"post\">") && !html.contains("<script"), "{html}");
    assert_eq!(subscriptions(&app, "ann").await["channels"]["email"]["status"], "subscribed");

    // POST unsubscribes; twice is harmless.
    for _ in 0..2 {
        let (status, html) = page(&app, Method::POST, &link, "action=unsubscribe").await;
        assert_eq!(status, 200);
        assert!(html.contains("You are unsubscribed") && html.contains("Subscribe again"), "{html}");
    }
    let subs = subscriptions(&app, "ann").await;
    assert_eq!(subs["channels"]["email"]["status"], "unsubscribed", "{subs}");
    assert_eq!(subs["channels"]["email"]["source"], "unsubscribe_page");
    assert_eq!(subs["channels"]["sms"]["status"], "subscribed");
    let (_, html) = page(&app, Method::GET, &link, "").await;
    assert!(html.contains("You are unsubscribed"), "a second visit says so: {html}");

    // The next marketing email is skipped, with the reason on the timeline; the receipt
    // and the SMS still go.
    let second = run(&app, "ann", "ann@example.com").await;
    assert_eq!(delivered(&app, &second).await, ["receipt", "tip"]);
    let skipped = entries(&second, "send_skipped");
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert_eq!(skipped[0].0, "sale");
    assert!(skipped[0].1.contains("unsubscribed from email"), "{skipped:?}");

    // Subscribing again from the same page works.
    let (_, html) = page(&app, Method::POST, &link, "action=resubscribe").await;
    assert!(html.contains("subscribed to marketing email again"), "{html}");
    assert_eq!(subscriptions(&app, "ann").await["channels"]["email"]["status"], "subscribed");
}

#[tokio::test]
async fn a_topic_link_opts_out_of_that_topic_only_and_one_click_works() {
    let app = TestApp::spawn().await;
    setup(&app).await;
    let first = run(&app, "bob", "bob@example.com").await;
    let sms = message(&app, &first, "tip").await;
    let link = link_in(&app, sms["body"].as_str().unwrap());

    let (status, html) = page(&app, Method::GET, &link, "").await;
    assert_eq!(status, 200);
    assert!(html.contains("Shopping tips text messages") && html.contains("A tip a week"), "{html}");
    assert!(html.contains("Unsubscribe from all marketing text messages"), "{html}");

    // A mail client's one-click POST (RFC 8058).
    let (status, _) = page(&app, Method::POST, &link, "List-Unsubscribe=One-Click").await;
    assert_eq!(status, 200);
    let subs = subscriptions(&app, "bob").await;
    assert_eq!(subs["topics"]["tips"]["status"], "unsubscribed", "{subs}");
    assert_eq!(subs["topics"]["tips"]["name"], "Shopping tips");
    assert_eq!(subs["topics"]["tips"]["source"], "one_click");
    assert_eq!(subs["channels"]["sms"]["status"], "subscribed", "only the topic");

    let second = run(&app, "bob", "bob@example.com").await;
    assert_eq!(delivered(&app, &second).await, ["sale", "receipt"]);
    assert_eq!(
        entries(&second, "send_skipped"),
        [("tip".to_string(), "the contact opted out of the topic `tips`".to_string())]
    );
}

#[tokio::test]
async fn forged_or_tampered_links_get_a_clear_page_and_change_nothing() {
    let app = TestApp::spawn().await;
    setup(&app).await;
    let first = run(&app, "cat", "cat@example.com").await;
    let link = link_in(&app, message(&app, &first, "sale").await["body"].as_str().unwrap());
    let token = link.rsplit('/').next().unwrap();
    let (payload, signature) = token.split_once('.').unwrap();
    // Another contact's id under cat's signature.
    let other = base64_url(r#"["ann","email",null]"#);
    for bad in [
        "garbage".to_string(),
        format!("{payload}.{}{}", if signature.starts_with('A') { 'B' } else { 'A' }, &signature[1..]),
        format!("{other}.{signature}"),
        payload.to_string(),
    ] {
        for method in [Method::GET, Method::POST] {
            let (status, html) =
                page(&app, method.clone(), &format!("{}/unsubscribe/{bad}", app.address), "action=unsubscribe").await;
            assert_eq!(status, 400, "{method} {bad}");
            assert!(html.contains("This link is not valid"), "{html}");
        }
    }
    assert_eq!(subscriptions(&app, "cat").await["channels"]["email"]["status"], "subscribed");
    // The page is public, but nothing else is: the subscriptions still need a key.
    assert_eq!(app.anonymous(Method::GET, "/v1/contacts/cat/subscriptions").await.status(), 401);
}

fn base64_url(text: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = text.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

#[tokio::test]
async fn an_unsubscribe_between_queueing_and_delivery_still_wins() {
    let app = TestApp::spawn().await;
    setup(&app).await;
    let body = json!({ "contact_id": "dan", "attributes": { "email": "dan@example.com", "phone": "+15550100" } });
    let started = json(app.post("/v1/workflows/promo/runs", &body).await, 201).await;
    let id = started["id"].as_str().unwrap();
    // Queued, not delivered yet: now Dan leaves email and the topic through the API.
    let change = json!({ "channels": { "email": "unsubscribed" }, "topics": { "tips": "unsubscribed" } });
    let subs = json(app.put("/v1/contacts/dan/subscriptions", &change).await, 200).await;
    assert_eq!(subs["channels"]["email"]["source"], "api");
    app.tick().await;
    let run = json(app.get(&format!("/v1/runs/{id}")).await, 200).await;
    assert_eq!(delivered(&app, &run).await, ["receipt"]);
    let skipped = entries(&run, "delivery_skipped");
    assert_eq!(skipped.iter().map(|s| s.0.as_str()).collect::<Vec<_>>(), ["sale", "tip"], "{skipped:?}");
    let outbox = json(app.get(&format!("/v1/outbox?status=skipped&run={id}")).await, 200).await;
    assert_eq!(outbox["data"].as_array().unwrap().len(), 2, "{outbox}");
    assert!(outbox["data"][0]["last_error"].as_str().unwrap().contains("unsubscribed from email"), "{outbox}");
    assert_eq!(outbox["data"][1]["topic"], "tips");
}

#[tokio::test]
async fn subscriptions_are_checked_and_topics_are_managed() {
    let app = TestApp::spawn().await;
    // A journey naming a topic that does not exist is not published, at the send's pointer.
    json(app.post("/v1/workflows", &promo()).await, 201).await;
    let refused = problem(app.post("/v1/workflows/promo/publish", &json!({})).await, 422, "invalid_workflow").await;
    let e = &refused["errors"][0];
    assert_eq!((e["pointer"].as_str(), e["node"].as_str()), (Some("/nodes/2/topic"), Some("tip")), "{refused}");
    assert!(e["message"].as_str().unwrap().contains("no topic `tips`"), "{refused}");
    let draft = json(app.get("/v1/workflows/promo").await, 200).await;
    assert_eq!(draft["valid"], false);
    assert_eq!(draft["problems"][0]["pointer"], "/nodes/2/topic");

    // Topics: checked, unique, listed, renamed; deleting one in use is refused.
    let bad =
        problem(app.post("/v1/topics", &json!({ "id": "Big News", "name": " " })).await, 400, "invalid_topic_id").await;
    let pointers: Vec<&str> =
        bad["errors"].as_array().unwrap().iter().map(|e| e["pointer"].as_str().unwrap()).collect();
    assert_eq!(pointers, ["/id", "/name"]);
    json(app.post("/v1/topics", &json!({ "id": "tips", "name": "Tips" })).await, 201).await;
    problem(app.post("/v1/topics", &json!({ "id": "tips", "name": "Tips" })).await, 409, "topic_exists").await;
    let renamed = json(app.put("/v1/topics/tips", &json!({ "name": "Shopping tips" })).await, 200).await;
    assert_eq!(renamed["name"], "Shopping tips");
    json(app.post("/v1/workflows/promo/publish", &json!({})).await, 201).await;
    let in_use = problem(app.delete("/v1/topics/tips").await, 409, "topic_in_use").await;
    assert!(in_use["detail"].as_str().unwrap().contains("`promo` node `tip`"), "{in_use}");
    let topics = json(app.get("/v1/topics").await, 200).await;
    assert_eq!(topics["data"][0]["id"], "tips");
    json(app.post("/v1/topics", &json!({ "id": "spare", "name": "Spare" })).await, 201).await;
    assert_eq!(app.delete("/v1/topics/spare").await.status(), 204);
    problem(app.get("/v1/topics/spare").await, 404, "not_found").await;

    // Subscriptions: every problem with its pointer; an unknown contact is 404.
    json(app.put("/v1/contacts/eve", &json!({ "attributes": { "email": "eve@example.com" } })).await, 201).await;
    let bad = json!({ "channels": { "fax": "unsubscribed", "email": "maybe" }, "topics": { "nope": "unsubscribed" } });
    let refused = problem(app.put("/v1/contacts/eve/subscriptions", &bad).await, 400, "invalid_status").await;
    let pointers: Vec<&str> =
        refused["errors"].as_array().unwrap().iter().map(|e| e["pointer"].as_str().unwrap()).collect();
    assert_eq!(pointers, ["/channels/email", "/channels/fax"], "{refused}");
    let refused = problem(
        app.put("/v1/contacts/eve/subscriptions", &json!({ "topics": { "nope": "unsubscribed" } })).await,
        400,
        "unknown_topic",
    )
    .await;
    assert_eq!(refused["errors"][0]["pointer"], "/topics/nope");
    problem(app.put("/v1/contacts/nobody/subscriptions", &json!({})).await, 404, "not_found").await;
    let subs = subscriptions(&app, "eve").await;
    assert_eq!(subs["channels"]["email"]["status"], "subscribed", "nothing was half-saved: {subs}");
    assert_eq!(subs["topics"]["tips"]["status"], "subscribed");
    assert!(subs["email_suppression"].is_null());

    // Set, read back; erasing the contact erases their statuses too.
    let change = json!({ "channels": { "sms": "unsubscribed" }, "topics": { "tips": "unsubscribed" } });
    let subs = json(app.put("/v1/contacts/eve/subscriptions", &change).await, 200).await;
    assert_eq!(
        (subs["channels"]["sms"]["status"].as_str(), subs["topics"]["tips"]["status"].as_str()),
        (Some("unsubscribed"), Some("unsubscribed"))
    );
    assert_eq!(subs["channels"]["email"]["status"], "subscribed", "a channel not listed keeps its status");
    assert_eq!(app.delete("/v1/contacts/eve").await.status(), 204);
    problem(app.get("/v1/contacts/eve/subscriptions").await, 404, "not_found").await;
    json(app.put("/v1/contacts/eve", &json!({})).await, 201).await;
    assert_eq!(subscriptions(&app, "eve").await["channels"]["sms"]["status"], "subscribed");
}

// ----- Bounces and complaints -----

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/../tests/fixtures/email-events/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

async fn hook_url(app: &TestApp, provider: &str) -> String {
    let hooks = json(app.get("/v1/email-webhooks").await, 200).await;
    let url = hooks["data"].as_array().unwrap().iter().find(|h| h["provider"] == provider).unwrap()["url"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(url.starts_with(&format!("{}/hooks/email/{provider}/", app.address)), "{url}");
    url
}

async fn post_events(app: &TestApp, url: &str, body: Vec<u8>) -> Response {
    app.client.post(url).header("content-type", "application/json").body(body).send().await.unwrap()
}

#[tokio::test]
async fn a_postmark_hard_bounce_suppresses_the_address_even_for_transactional_email() {
    let app = TestApp::spawn().await;
    setup(&app).await;
    let url = hook_url(&app, "postmark").await;

    // The fixture reports `Ann@Example.com`: a hard bounce.
    let report = json(post_events(&app, &url, fixture("postmark-hard-bounce.json")).await, 200).await;
    assert_eq!(report, json!({ "suppressed": 1, "ignored": 0 }));
    let again = json(post_events(&app, &url, fixture("postmark-hard-bounce.json")).await, 200).await;
    assert_eq!(again["suppressed"], 0, "a repeated event changes nothing");
    let list = json(app.get("/v1/suppressions").await, 200).await;
    let s = &list["data"][0];
    assert_eq!(
        (s["address"].as_str(), s["reason"].as_str(), s["provider"].as_str()),
        (Some("ann@example.com"), Some("hard_bounce"), Some("postmark"))
    );
    assert!(s["detail"].as_str().unwrap().contains("does not exist"), "{list}");

    // No email at all to Ann, not even the receipt; the SMS still goes.
    let run1 = run(&app, "ann", "ann@example.com").await;
    assert_eq!(delivered(&app, &run1).await, ["tip"]);
    let skipped = entries(&run1, "send_skipped");
    assert_eq!(skipped.iter().map(|s| s.0.as_str()).collect::<Vec<_>>(), ["sale", "receipt"]);
    assert!(skipped.iter().all(|s| s.1.contains("suppressed")), "{skipped:?}");
    let subs = subscriptions(&app, "ann").await;
    assert_eq!(subs["email_suppression"]["reason"], "hard_bounce", "{subs}");

    // A soft bounce suppresses nothing: Bob still gets his email.
    let soft = json(post_events(&app, &url, fixture("postmark-soft-bounce.json")).await, 200).await;
    assert_eq!(soft, json!({ "suppressed": 0, "ignored": 1 }));
    let bob = run(&app, "bob", "bob@example.com").await;
    assert_eq!(delivered(&app, &bob).await, ["sale", "receipt", "tip"]);

    // A bounce that arrives while Cat's messages wait in the outbox still stops them.
    let body = json!({ "contact_id": "cat", "attributes": { "email": "cat@example.com" } });
    let cat = json(app.post("/v1/workflows/promo/runs", &body).await, 201).await;
    json(post_events(&app, &url, fixture("postmark-spam-complaint.json")).await, 200).await;
    app.tick().await;
    let cat = json(app.get(&format!("/v1/runs/{}", cat["id"].as_str().unwrap())).await, 200).await;
    assert!(delivered(&app, &cat).await.is_empty());
    let late = entries(&cat, "delivery_skipped");
    assert_eq!(late.len(), 2, "{late:?}");
    assert!(late[1].1.contains("cat@example.com is suppressed") && late[1].1.contains("spam complaint"), "{late:?}");

    // Lifting the suppression lets email go again.
    assert_eq!(app.delete("/v1/suppressions/ANN@example.com").await.status(), 204);
    problem(app.delete("/v1/suppressions/ann@example.com").await, 404, "not_found").await;
    let run2 = run(&app, "ann", "ann@example.com").await;
    assert_eq!(delivered(&app, &run2).await, ["sale", "receipt", "tip"]);
}

#[tokio::test]
async fn email_webhooks_refuse_bad_tokens_unknown_providers_and_other_formats() {
    let app = TestApp::spawn().await;
    let url = hook_url(&app, "postmark").await;
    let forged = format!("{}/hooks/email/postmark/AAAA", app.address);
    problem(post_events(&app, &forged, fixture("postmark-hard-bounce.json")).await, 403, "invalid_webhook_token").await;
    // Resend's token is not Postmark's.
    let resend = hook_url(&app, "resend").await;
    let swapped = format!("{}/hooks/email/postmark/{}", app.address, resend.rsplit('/').next().unwrap());
    problem(post_events(&app, &swapped, fixture("postmark-hard-bounce.json")).await, 403, "invalid_webhook_token")
        .await;
    problem(post_events(&app, &format!("{}/hooks/email/mailgun/x", app.address), vec![]).await, 404, "not_found").await;
    let wrong = problem(post_events(&app, &url, fixture("resend-bounced.json")).await, 400, "invalid_events").await;
    assert_eq!(wrong["errors"][0]["pointer"], "/RecordType");
    problem(post_events(&app, &url, b"{".to_vec()).await, 400, "invalid_events").await;
    assert!(json(app.get("/v1/suppressions").await, 200).await["data"].as_array().unwrap().is_empty());

    // Resend's and SendGrid's formats, through their own URLs.
    let r = json(post_events(&app, &resend, fixture("resend-complained.json")).await, 200).await;
    assert_eq!(r, json!({ "suppressed": 1, "ignored": 0 }));
    let sendgrid = hook_url(&app, "sendgrid").await;
    let s = json(post_events(&app, &sendgrid, fixture("sendgrid-events.json")).await, 200).await;
    assert_eq!(s, json!({ "suppressed": 2, "ignored": 3 }), "cat was suppressed by Resend already");
    let list = json(app.get("/v1/suppressions").await, 200).await;
    let got: Vec<(&str, &str)> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["address"].as_str().unwrap(), s["provider"].as_str().unwrap()))
        .collect();
    assert_eq!(got, [("ann@example.com", "sendgrid"), ("cat@example.com", "resend"), ("dan@example.com", "sendgrid")]);
    // Listing needs a key; the webhook URLs too.
    assert_eq!(app.anonymous(Method::GET, "/v1/suppressions").await.status(), 401);
    assert_eq!(app.anonymous(Method::GET, "/v1/email-webhooks").await.status(), 401);
}
