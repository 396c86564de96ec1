//! Signing in to the editor (`/v1/session`), cookie authentication with CSRF, and API
//! key management (`/v1/api-keys`).

use crate::helpers::{ADMIN_EMAIL, ADMIN_PASSWORD, KEY, TestApp, json, problem};
use reqwest::Method;
use serde_json::{Value, json};

async fn sign_in_with(app: &TestApp, body: &Value) -> reqwest::Response {
    app.client.post(format!("{}/v1/session", app.address)).json(body).send().await.unwrap()
}

#[tokio::test]
async fn signing_in_sets_a_strict_http_only_cookie_and_returns_the_csrf_token() {
    let app = TestApp::spawn().await;
    // The email is matched without regard to case or surrounding spaces.
    let r = sign_in_with(&app, &json!({ "email": " Admin@Example.com ", "password": ADMIN_PASSWORD })).await;
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    let body = json(r, 200).await;
    assert_eq!(body["email"], ADMIN_EMAIL);
    assert!(body["csrf_token"].as_str().unwrap().len() >= 32, "{body}");
    assert!(cookie.starts_with("kairos_session="), "{cookie}");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=604800"] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    // Over plain HTTP the cookie is not `Secure` (the browser would drop it); behind an HTTPS proxy it is.
    assert!(!cookie.contains("Secure"), "{cookie}");
    let r = app
        .client
        .post(format!("{}/v1/session", app.address))
        .header("x-forwarded-proto", "https")
        .json(&json!({ "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD }))
        .send()
        .await
        .unwrap();
    assert!(r.headers()["set-cookie"].to_str().unwrap().contains("Secure"));
}

#[tokio::test]
async fn wrong_credentials_get_the_same_answer_whether_or_not_the_email_exists() {
    let app = TestApp::spawn().await;
    let wrong_password = problem(
        sign_in_with(&app, &json!({ "email": ADMIN_EMAIL, "password": "nope nope" })).await,
        401,
        "invalid_credentials",
    )
    .await;
    let unknown_email = problem(
        sign_in_with(&app, &json!({ "email": "nobody@example.com", "password": "nope nope" })).await,
        401,
        "invalid_credentials",
    )
    .await;
    assert_eq!(wrong_password, unknown_email);
    // Bad bodies are problems too, never a session.
    for (body, code) in [
        (json!({ "email": ADMIN_EMAIL }), "invalid_body"),
        (json!({ "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "remember": true }), "invalid_body"),
        (json!({ "email": 7, "password": ADMIN_PASSWORD }), "invalid_body"),
        (json!({ "email": "not-an-email", "password": ADMIN_PASSWORD }), "invalid_body"),
        (json!([ADMIN_EMAIL, ADMIN_PASSWORD]), "invalid_body"),
    ] {
        let r = sign_in_with(&app, &body).await;
        assert!(r.headers().get("set-cookie").is_none());
        problem(r, 400, code).await;
    }
    let r = app.raw(Method::POST, "/v1/session", b"{\"email\": ".to_vec(), "application/json", None).await;
    problem(r, 400, "malformed_json").await;
}

#[tokio::test]
async fn the_cookie_authorises_reads_and_with_the_csrf_token_writes() {
    let app = TestApp::spawn().await;
    let session = app.sign_in().await;

    // GET /v1/session tells the editor who is signed in.
    let me = json(app.as_user(Method::GET, "/v1/session", None, &session, false).await, 200).await;
    assert_eq!(me, json!({ "email": ADMIN_EMAIL, "csrf_token": session.csrf }));

    // Reads need only the cookie.
    let r = app.as_user(Method::GET, "/v1/workflows", None, &session, false).await;
    assert_eq!(json(r, 200).await["data"], json!([]));

    // Writes without the CSRF token (or with a wrong one) are refused with `csrf`.
    let contact = json!({ "attributes": { "email": "ann@example.com" } });
    let r = app.as_user(Method::PUT, "/v1/contacts/ann", Some(&contact), &session, false).await;
    problem(r, 403, "csrf").await;
    let r = app
        .client
        .put(format!("{}/v1/contacts/ann", app.address))
        .header("cookie", &session.cookie)
        .header("x-csrf-token", "forged")
        .json(&contact)
        .send()
        .await
        .unwrap();
    problem(r, 403, "csrf").await;
    problem(app.get("/v1/contacts/ann").await, 404, "not_found").await;

    // With it, they work.
    let r = app.as_user(Method::PUT, "/v1/contacts/ann", Some(&contact), &session, true).await;
    assert!(r.status().is_success(), "{}", r.status());
    assert_eq!(json(app.get("/v1/contacts/ann").await, 200).await["attributes"]["email"], "ann@example.com");

    // An unknown cookie is no session.
    let stranger = crate::helpers::Session { cookie: "kairos_session=forged".into(), csrf: session.csrf.clone() };
    problem(app.as_user(Method::GET, "/v1/workflows", None, &stranger, true).await, 401, "unauthorized").await;
    problem(app.as_user(Method::GET, "/v1/session", None, &stranger, true).await, 401, "unauthorized").await;
    // No credentials at all.
    problem(app.anonymous(Method::GET, "/v1/workflows").await, 401, "unauthorized").await;
    problem(app.anonymous(Method::GET, "/v1/session").await, 401, "unauthorized").await;
}

#[tokio::test]
async fn signing_out_ends_the_session_and_removes_the_cookie() {
    let app = TestApp::spawn().await;
    let session = app.sign_in().await;
    let other = app.sign_in().await;

    // Signing out is a write: it needs the CSRF token too.
    problem(app.as_user(Method::DELETE, "/v1/session", None, &session, false).await, 403, "csrf").await;
    let r = app.as_user(Method::DELETE, "/v1/session", None, &session, true).await;
    assert_eq!(r.status(), 204);
    let removal = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(removal.starts_with("kairos_session=;") && removal.contains("Max-Age=0"), "{removal}");

    problem(app.as_user(Method::GET, "/v1/session", None, &session, false).await, 401, "unauthorized").await;
    problem(app.as_user(Method::GET, "/v1/workflows", None, &session, false).await, 401, "unauthorized").await;
    // Signing out again, or without a session, answers the same.
    assert_eq!(app.as_user(Method::DELETE, "/v1/session", None, &session, true).await.status(), 204);
    // Another session of the same user goes on.
    assert_eq!(app.as_user(Method::GET, "/v1/workflows", None, &other, false).await.status(), 200);
}

#[tokio::test]
async fn sessions_expire_after_a_week_without_use() {
    let app = TestApp::spawn().await;
    let session = app.sign_in().await;
    app.clock.advance(chrono::TimeDelta::days(6));
    // A use slides the expiry: six more days are fine.
    assert_eq!(app.as_user(Method::GET, "/v1/workflows", None, &session, false).await.status(), 200);
    app.clock.advance(chrono::TimeDelta::days(6));
    assert_eq!(app.as_user(Method::GET, "/v1/workflows", None, &session, false).await.status(), 200);
    app.clock.advance(chrono::TimeDelta::days(8));
    problem(app.as_user(Method::GET, "/v1/workflows", None, &session, false).await, 401, "unauthorized").await;
}

#[tokio::test]
async fn api_keys_are_created_listed_and_revoked() {
    let app = TestApp::spawn().await;
    let session = app.sign_in().await;

    let listed = json(app.get("/v1/api-keys").await, 200).await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1, "the admin key: {listed}");
    assert_eq!(listed["data"][0]["name"], "admin");
    assert_eq!(listed["data"][0]["revoked_at"], Value::Null);

    // The editor creates a key (cookie + CSRF); its secret is in this answer only.
    let r = app.as_user(Method::POST, "/v1/api-keys", Some(&json!({ "name": "shop backend" })), &session, true).await;
    let created = json(r, 201).await;
    let secret = created["key"].as_str().unwrap().to_string();
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["name"], "shop backend");
    assert!(secret.starts_with(created["prefix"].as_str().unwrap()));

    let listed = json(app.as_user(Method::GET, "/v1/api-keys", None, &session, false).await, 200).await;
    let keys = listed["data"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[1]["id"], id.as_str());
    assert!(keys.iter().all(|k| k.get("key").is_none() && k.get("hash").is_none()), "{listed}");

    // The new key works.
    let with_new = |method: Method, path: &str| {
        app.client.request(method, format!("{}{path}", app.address)).bearer_auth(&secret).send()
    };
    assert_eq!(with_new(Method::GET, "/v1/workflows").await.unwrap().status(), 200);

    // Revoked (by itself: allowed), it is refused at once.
    assert_eq!(with_new(Method::DELETE, &format!("/v1/api-keys/{id}")).await.unwrap().status(), 204);
    problem(with_new(Method::GET, "/v1/workflows").await.unwrap(), 401, "invalid_api_key").await;
    let listed = json(app.get("/v1/api-keys").await, 200).await;
    assert!(listed["data"][1]["revoked_at"].is_string(), "{listed}");
    // The admin key still works; an unknown id is a 404.
    problem(app.delete("/v1/api-keys/no-such-key").await, 404, "not_found").await;

    // Bad bodies.
    for body in [json!({}), json!({ "name": "  " }), json!({ "name": 3 }), json!({ "name": "x", "scopes": [] })] {
        problem(app.post("/v1/api-keys", &body).await, 400, "invalid_body").await;
    }
    let r = app.raw(Method::POST, "/v1/api-keys", b"{".to_vec(), "application/json", Some(KEY)).await;
    problem(r, 400, "malformed_json").await;
}

#[tokio::test]
async fn the_admin_password_comes_from_the_settings_and_can_be_changed_there() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/kairos.db", dir.path().display());
    let start = |password: Option<&str>| {
        let mut settings = kairos::Settings::new("127.0.0.1:0", url.clone());
        settings.api_key = Some(KEY.into());
        settings.admin_password = password.map(str::to_string);
        settings.background = false;
        settings
    };
    // No password: a generated one, reported once, for admin@localhost.
    let app = kairos::Application::build(start(None)).await.unwrap();
    let (email, password) = app.created_admin.clone().expect("an admin was created");
    assert_eq!(email, "admin@localhost");
    assert_eq!(password.len(), 32);
    drop(app);
    let app = kairos::Application::build(start(None)).await.unwrap();
    assert!(app.created_admin.is_none(), "created only at the first start");
    drop(app);
    // A password from the settings replaces the generated one.
    let app = kairos::Application::build(start(Some("a new long password"))).await.unwrap();
    assert!(app.created_admin.is_none());
    let address = format!("http://127.0.0.1:{}", app.port());
    tokio::spawn(app.run_until_stopped());
    let client = reqwest::Client::new();
    let sign_in = |password: &str| {
        client
            .post(format!("{address}/v1/session"))
            .json(&json!({ "email": "admin@localhost", "password": password }))
            .send()
    };
    assert_eq!(sign_in("a new long password").await.unwrap().status(), 200);
    assert_eq!(sign_in(&password).await.unwrap().status(), 401);
    // Too short a password from the settings stops the start.
    let err = kairos::Application::build(start(Some("short"))).await.err().expect("refused");
    assert!(format!("{err:#}").contains("KAIROS_ADMIN_PASSWORD"), "{err:#}");
}
