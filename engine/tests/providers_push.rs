//! Push through Firebase Cloud Messaging (HTTP v1) against a local server that plays both
//! Google's token endpoint (it verifies the RS256 JWT's signature with the service
//! account's public key, and its iss, scope, aud, iat and exp) and FCM's `messages:send`
//! (it takes only the access tokens it issued and answers FCM's real error bodies);
//! driven by the real dispatcher on a manual clock.

mod support;

use base64::Engine;
use chrono::TimeDelta;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use kairos_engine::delivery::fcm::{self, Fcm, Secrets, Settings};
use kairos_engine::nodes::send::Rendered;
use kairos_engine::scheduler::{Deliver, Delivery};
use kairos_engine::store::{OutboxItem, OutboxStatus};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::{Fault, Harness, MockApi, Received, Reply};

const EMAIL: &str = "kairos@acme-app.iam.gserviceaccount.com";
const PROJECT: &str = "acme-app";
const SEND_PATH: &str = "/v1/projects/acme-app/messages:send";

/// A service account's key pair, made for the test.
struct ServiceAccount {
    pem: String,
    public_der: Vec<u8>,
}

impl ServiceAccount {
    fn generate() -> ServiceAccount {
        use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
        use aws_lc_rs::signature::KeyPair;
        let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
        let der = AsDer::<Pkcs8V1Der>::as_der(&pair).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
        let lines: Vec<&str> = b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
        let pem = format!("-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n", lines.join("\n"));
        ServiceAccount { pem, public_der: pair.public_key().as_ref().to_vec() }
    }

    /// The key file as Firebase gives it, with its token endpoint at `token_uri`.
    fn key_file(&self, token_uri: &str) -> String {
        json!({
            "type": "service_account", "project_id": PROJECT, "private_key_id": "k1",
            "private_key": self.pem, "client_email": EMAIL, "client_id": "1234567890",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth", "token_uri": token_uri,
            "universe_domain": "googleapis.com"
        })
        .to_string()
    }
}

/// What the Google side knows and saw.
#[derive(Default)]
struct Google {
    public_der: Vec<u8>,
    token_uri: String,
    /// Claims of every assertion accepted.
    assertions: Vec<Value>,
    /// Access tokens FCM takes now.
    valid: HashSet<String>,
    issued: usize,
}

fn fcm_error(code: u16, status: &str, fcm_code: Option<&str>, message: &str) -> Reply {
    let details: Vec<Value> = fcm_code
        .map(|c| json!({ "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": c }))
        .into_iter()
        .collect();
    Reply::json(code, json!({ "error": { "code": code, "message": message, "status": status, "details": details } }))
}

fn google_api(google: &Mutex<Google>, r: &Received) -> Reply {
    let mut g = google.lock().unwrap();
    if r.path == "/token" {
        let invalid =
            |description: &str| Reply::json(400, json!({ "error": "invalid_grant", "error_description": description }));
        if r.form_field("grant_type").as_deref() != Some("urn:ietf:params:oauth:grant-type:jwt-bearer") {
            return Reply::json(
                400,
                json!({ "error": "unsupported_grant_type", "error_description": "Invalid grant_type" }),
            );
        }
        let Some(assertion) = r.form_field("assertion") else { return invalid("Missing assertion") };
        let mut validation = Validation::new(Algorithm::RS256);
        validation.validate_exp = false; // checked below against the issue time: the test's clock is not the machine's
        validation.set_audience(&[g.token_uri.clone()]);
        validation.set_issuer(&[EMAIL]);
        validation.set_required_spec_claims(&["iss", "aud", "iat", "exp"]);
        let key = DecodingKey::from_rsa_der(&g.public_der);
        let claims = match jsonwebtoken::decode::<Value>(&assertion, &key, &validation) {
            Ok(data) if data.header.kid.as_deref() == Some("k1") => data.claims,
            Ok(_) => return invalid("Invalid JWT: unknown key id"),
            Err(e) if matches!(e.kind(), jsonwebtoken::errors::ErrorKind::InvalidSignature) => {
                return invalid("Invalid JWT Signature.");
            }
            Err(e) => return invalid(&format!("Invalid JWT: {e}")),
        };
        if claims["scope"] != fcm::SCOPE {
            return Reply::json(400, json!({ "error": "invalid_scope", "error_description": "Invalid OAuth scope" }));
        }
        let (iat, exp) = (claims["iat"].as_i64().unwrap_or(0), claims["exp"].as_i64().unwrap_or(0));
        if exp - iat != 3600 {
            return invalid("Invalid JWT: Token must be a short-lived token (60 minutes)");
        }
        g.assertions.push(claims);
        g.issued += 1;
        let token = format!("ya29.token-{}", g.issued);
        g.valid.insert(token.clone());
        return Reply::json(200, json!({ "access_token": token, "expires_in": 3599, "token_type": "Bearer" }));
    }
    if r.path != SEND_PATH || r.method != "POST" {
        return fcm_error(404, "NOT_FOUND", None, "Requested entity was not found.");
    }
    let bearer = r.header("authorization").and_then(|a| a.strip_prefix("Bearer ")).unwrap_or_default();
    if !g.valid.contains(bearer) {
        return fcm_error(
            401,
            "UNAUTHENTICATED",
            None,
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
        );
    }
    let body = r.json();
    let message = &body["message"];
    let token = message["token"].as_str().unwrap_or_default();
    if token.is_empty() || !message["notification"]["title"].is_string() || !message["notification"]["body"].is_string()
    {
        return fcm_error(
            400,
            "INVALID_ARGUMENT",
            Some("INVALID_ARGUMENT"),
            "The registration token is not a valid FCM registration token",
        );
    }
    if token.starts_with("gone-") {
        return fcm_error(404, "NOT_FOUND", Some("UNREGISTERED"), "Requested entity was not found.");
    }
    Reply::json(200, json!({ "name": format!("projects/{PROJECT}/messages/0:{}", r.body.len()) }))
}

struct Push {
    api: MockApi,
    google: Arc<Mutex<Google>>,
    account: ServiceAccount,
}

impl Push {
    async fn start() -> Push {
        let account = ServiceAccount::generate();
        let google = Arc::new(Mutex::new(Google { public_der: account.public_der.clone(), ..Google::default() }));
        let g = google.clone();
        let api = MockApi::start(move |r| google_api(&g, r)).await;
        google.lock().unwrap().token_uri = format!("{}/token", api.base);
        Push { api, google, account }
    }

    fn provider_with(&self, account: &ServiceAccount) -> Arc<Fcm> {
        let secrets = Secrets { service_account_key: account.key_file(&format!("{}/token", self.api.base)) };
        let settings = Settings { project_id: None, base_url: Some(self.api.base.clone()) };
        Arc::new(Fcm::new(settings, secrets, &support::options()).unwrap())
    }

    fn provider(&self) -> Arc<Fcm> {
        self.provider_with(&self.account)
    }

    async fn harness(&self, provider: Arc<Fcm>) -> Harness {
        let message = json!({ "channel": "push", "title": "Still thinking it over, {{contact.first_name}}?",
                              "body": "Your cart is waiting", "url": "https://shop.example.com/cart/{{trigger.properties.cart_id}}" });
        Harness::new(fcm::CHANNEL, provider, message).await
    }

    fn sends(&self) -> Vec<Received> {
        self.api.requests_to("messages:send")
    }

    fn token_requests(&self) -> usize {
        self.api.requests_to("/token").len()
    }
}

fn contact(push_token: &str) -> Value {
    json!({ "first_name": "Ann", "push_token": push_token })
}

fn push_item() -> OutboxItem {
    OutboxItem {
        id: 0,
        key: "run-1:send:1".into(),
        run_id: "run-1".into(),
        workflow_id: "notify".into(),
        contact_id: "ann".into(),
        node: "send".into(),
        message: Rendered::Push { to: "device-1".into(), title: "t".into(), body: "b".into(), url: None },
        attempts: 1,
        recorded_attempts: 0,
        provider: None,
        awaited: false,
    }
}

#[tokio::test]
async fn a_push_is_sent_with_a_verified_access_token_kept_until_it_nearly_expires() {
    let push = Push::start().await;
    let h = push.harness(push.provider()).await;
    h.start(contact("device-1")).await;

    assert_eq!(h.dispatch().await, 1);
    assert_eq!(push.token_requests(), 1);
    let claims = push.google.lock().unwrap().assertions[0].clone();
    assert_eq!(claims["iss"], EMAIL);
    assert_eq!(claims["iat"], h.now().timestamp(), "signed at the scheduler's time");
    let sends = push.sends();
    assert_eq!(sends.len(), 1);
    assert_eq!(sends[0].header("authorization"), Some("Bearer ya29.token-1"));
    assert_eq!(
        sends[0].json(),
        json!({ "message": { "token": "device-1",
                "notification": { "title": "Still thinking it over, Ann?", "body": "Your cart is waiting" },
                "data": { "url": "https://shop.example.com/cart/" },
                "webpush": { "fcm_options": { "link": "https://shop.example.com/cart/" } } } })
    );
    let entry = h.entry().await;
    assert_eq!((entry.status, entry.attempts, entry.last_error), (OutboxStatus::Sent, 1, None));

    // 50 minutes later the token is still good: no new token request.
    h.clock.advance(TimeDelta::minutes(50));
    h.scheduler.start_run("notify", "bob", support_contact("device-2"), Default::default(), None).await.unwrap();
    assert_eq!(h.dispatch().await, 1);
    assert_eq!(push.token_requests(), 1);
    assert_eq!(push.sends()[1].header("authorization"), Some("Bearer ya29.token-1"));
    // Within five minutes of its expiry it is replaced before use.
    h.clock.advance(TimeDelta::minutes(5));
    h.scheduler.start_run("notify", "cy", support_contact("device-3"), Default::default(), None).await.unwrap();
    assert_eq!(h.dispatch().await, 1);
    assert_eq!(push.token_requests(), 2);
    assert_eq!(push.sends()[2].header("authorization"), Some("Bearer ya29.token-2"));
    push.api.stop().await;
}

fn support_contact(push_token: &str) -> serde_json::Map<String, Value> {
    contact(push_token).as_object().unwrap().clone()
}

#[tokio::test]
async fn a_token_fcm_no_longer_takes_is_refreshed_and_the_push_sent_again_at_once() {
    let push = Push::start().await;
    let h = push.harness(push.provider()).await;
    h.start(contact("device-1")).await;
    assert_eq!(h.dispatch().await, 1);

    // Google revokes the token early.
    push.google.lock().unwrap().valid.clear();
    h.scheduler.start_run("notify", "bob", support_contact("device-2"), Default::default(), None).await.unwrap();
    assert_eq!(h.dispatch().await, 1, "delivered on the first attempt");
    assert_eq!(push.token_requests(), 2);
    let sends = push.sends();
    assert_eq!(sends.len(), 3);
    assert_eq!(sends[1].header("authorization"), Some("Bearer ya29.token-1"));
    assert_eq!(sends[2].header("authorization"), Some("Bearer ya29.token-2"));
    push.api.stop().await;
}

#[tokio::test]
async fn unavailable_is_retried_and_quota_exceeded_waits_for_retry_after() {
    let push = Push::start().await;
    push.api.fail_next(
        "messages:send",
        Fault::Reply(fcm_error(503, "UNAVAILABLE", Some("UNAVAILABLE"), "The service is currently unavailable.")),
    );
    push.api.fail_next(
        "messages:send",
        Fault::Reply(
            fcm_error(429, "RESOURCE_EXHAUSTED", Some("QUOTA_EXCEEDED"), "Sending limit exceeded.")
                .with_header("Retry-After", "60"),
        ),
    );
    let h = push.harness(push.provider()).await;
    h.start(contact("device-1")).await;

    assert_eq!(h.dispatch().await, 0);
    let entry = h.entry().await;
    assert_eq!((entry.status, entry.attempts), (OutboxStatus::Pending, 1));
    assert!(entry.last_error.unwrap().contains("503 Service Unavailable: UNAVAILABLE"));
    assert_eq!(h.advance(TimeDelta::seconds(3)).await, 0);
    let entry = h.entry().await;
    assert!(entry.last_error.unwrap().contains("QUOTA_EXCEEDED: Sending limit exceeded."));
    assert_eq!(h.advance(TimeDelta::seconds(59)).await, 0);
    assert_eq!(push.sends().len(), 2, "not before Retry-After: 60");
    assert_eq!(h.advance(TimeDelta::seconds(1)).await, 1);
    let entry = h.entry().await;
    assert_eq!((entry.status, entry.attempts), (OutboxStatus::Sent, 3));
    assert_eq!(push.token_requests(), 1, "one token for every attempt");
    push.api.stop().await;
}

#[tokio::test]
async fn a_send_past_the_timeout_is_uncertain_and_a_slow_token_endpoint_is_retried() {
    let push = Push::start().await;
    let h = push.harness(push.provider()).await;
    let provider = push.provider();

    push.api.fail_next("messages:send", Fault::Hang(Duration::from_secs(1)));
    let began = std::time::Instant::now();
    let outcome = provider.deliver(h.scheduler.store(), &[push_item()], h.now()).await;
    assert!(began.elapsed() < Duration::from_millis(900));
    let [Delivery::Uncertain { error, .. }] = outcome.as_slice() else { panic!("{outcome:?}") };
    assert!(error.contains("fcm timed out"), "{error}");

    // The token request timing out sent nothing: a plain retry.
    let fresh = push.provider();
    push.api.fail_next("/token", Fault::Hang(Duration::from_secs(1)));
    let outcome = fresh.deliver(h.scheduler.store(), &[push_item()], h.now()).await;
    let [Delivery::Retry { error, .. }] = outcome.as_slice() else { panic!("{outcome:?}") };
    assert!(error.contains("fcm token endpoint timed out"), "{error}");
    push.api.stop().await;
}

#[tokio::test]
async fn an_unregistered_device_fails_at_once_with_fcms_code() {
    let push = Push::start().await;
    let h = push.harness(push.provider()).await;
    let run = h.start(contact("gone-device")).await;

    h.dispatch().await;
    let entry = h.entry().await;
    assert_eq!((entry.status, entry.attempts, entry.next_attempt_at), (OutboxStatus::Failed, 1, None));
    assert_eq!(
        entry.last_error.as_deref(),
        Some("fcm answered 404 Not Found: UNREGISTERED: Requested entity was not found.")
    );
    assert_eq!(h.advance(TimeDelta::days(1)).await, 0);
    assert_eq!(push.sends().len(), 1, "not retried");
    let timeline = h.timeline(&run).await;
    assert!(timeline.iter().any(|e| e["type"] == "delivery_failed" && e["channel"] == "push"), "{timeline:?}");
    push.api.stop().await;
}

#[tokio::test]
async fn a_key_google_does_not_know_fails_and_no_secret_is_ever_shown() {
    let push = Push::start().await;
    let stranger = ServiceAccount::generate();
    let h = push.harness(push.provider_with(&stranger)).await;
    let run = h.start(contact("device-1")).await;

    h.dispatch().await;
    let entry = h.entry().await;
    assert_eq!((entry.status, entry.attempts), (OutboxStatus::Failed, 1));
    assert_eq!(
        entry.last_error.as_deref(),
        Some("fcm token endpoint answered 400 Bad Request: invalid_grant: Invalid JWT Signature.")
    );
    assert!(push.sends().is_empty(), "nothing was sent without a token");
    let recorded = h.everything_recorded(&run).await;
    let key_body: String = stranger.pem.lines().nth(1).unwrap().to_string();
    assert!(!recorded.contains(&key_body) && !recorded.contains("PRIVATE KEY"), "{recorded}");
    assert!(!recorded.contains("ya29."), "no access token either");

    // And a token endpoint that is down is retried, not given up.
    let h = push.harness(push.provider()).await;
    push.api.fail_next("/token", Fault::Reply(Reply::json(503, json!({ "error": "temporarily_unavailable" }))));
    h.start(contact("device-1")).await;
    assert_eq!(h.dispatch().await, 0);
    let entry = h.entry().await;
    assert_eq!(entry.status, OutboxStatus::Pending);
    assert!(entry.last_error.unwrap().contains("fcm token endpoint answered 503"));
    assert_eq!(h.advance(TimeDelta::seconds(3)).await, 1);
    push.api.stop().await;
}
