//! Push notifications through Firebase Cloud Messaging's HTTP v1 API.
//!
//! Each message is `POST {base_url}/v1/projects/{project_id}/messages:send` with
//! `{"message": {"token", "notification": {"title", "body"}, "data": {"url"},
//! "webpush": {"fcm_options": {"link"}}}}` and an OAuth 2 access token in
//! `Authorization: Bearer`. The push's `url` goes in `data.url` (the app opens it) and,
//! when it is an `https` address, in `webpush.fcm_options.link` (the browser opens it on
//! a click; FCM refuses a non-https link there).
//!
//! The access token comes from the service-account key (the secret): an RS256 JWT
//! `{iss: client_email, scope: firebase.messaging, aud: token_uri, iat, exp: iat + 1 h}`
//! signed with its `private_key` is exchanged at its `token_uri` with the JWT bearer grant.
//! The token is kept until five minutes before it expires, shared by every send, and
//! fetched again at once when FCM answers 401 UNAUTHENTICATED (the send is then repeated
//! once).
//!
//! Outcomes: `UNREGISTERED` (404), `INVALID_ARGUMENT` (400), `SENDER_ID_MISMATCH` (403)
//! and `THIRD_PARTY_AUTH_ERROR` (401) are permanent; `QUOTA_EXCEEDED` (429) waits for
//! `Retry-After`; `UNAVAILABLE` (503) and `INTERNAL` (500) are retried. The error keeps
//! FCM's code and message. A token endpoint that refuses the key fails the message (the
//! key must be fixed); one that is down is retried. FCM does not deduplicate, so the
//! channel is not idempotent.
//!
//! - Send: <https://firebase.google.com/docs/reference/fcm/rest/v1/projects.messages/send>
//! - Message fields: <https://firebase.google.com/docs/reference/fcm/rest/v1/projects.messages>
//! - Error codes: <https://firebase.google.com/docs/reference/fcm/rest/v1/ErrorCode>
//! - Service-account OAuth (JWT bearer grant):
//!   <https://developers.google.com/identity/protocols/oauth2/service-account#httprest>

use super::http::{self, Answer};
use super::{ConfigError, Options};
use crate::nodes::send::{Channel, Rendered};
use crate::scheduler::{Deliver, Delivery};
use crate::store::{OutboxItem, Store};
use chrono::{DateTime, TimeDelta, Utc};
use futures::StreamExt;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// The provider's name in configuration and errors.
pub const KIND: &str = "fcm";
/// The message channel it delivers.
pub const CHANNEL: Channel = Channel::Push;

/// FCM's API address.
pub const DEFAULT_BASE_URL: &str = "https://fcm.googleapis.com";
/// Google's token endpoint, when the key file does not name one.
pub const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";
/// The OAuth scope of sending with FCM.
pub const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
/// The grant that exchanges a signed JWT for an access token.
pub const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// How long the signed JWT is valid (Google's maximum).
pub const ASSERTION_LIFETIME: TimeDelta = TimeDelta::hours(1);
/// An access token is fetched again this long before it expires.
pub const REFRESH_MARGIN: TimeDelta = TimeDelta::minutes(5);

/// The name of the token endpoint in errors.
const TOKEN_ENDPOINT: &str = "fcm token endpoint";

/// FCM settings.
///
/// ```json
/// { "project_id": "acme-app" }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The Firebase project's id (Project settings → General); defaults to the
    /// `project_id` of the service-account key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
    /// The API's address; defaults to `https://fcm.googleapis.com`. Set it for a
    /// compatible service or a local test receiver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
}

/// FCM secrets.
///
/// ```json
/// { "service_account_key": "{\"type\": \"service_account\", \"project_id\": \"acme-app\", \"private_key_id\": \"0123abcd\", \"private_key\": \"-----BEGIN PRIVATE KEY-----\\n…\\n-----END PRIVATE KEY-----\\n\", \"client_email\": \"kairos@acme-app.iam.gserviceaccount.com\", \"token_uri\": \"https://oauth2.googleapis.com/token\"}" }
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Secrets {
    /// The service account's key file, as downloaded from Firebase (Project settings →
    /// Service accounts → Generate new private key): the whole JSON text. Kairos uses its
    /// `client_email`, `private_key`, `private_key_id`, `token_uri` and `project_id`.
    pub service_account_key: String,
}

/// The parts of a service-account key file that Kairos uses.
struct Key {
    client_email: String,
    private_key_id: Option<String>,
    signing_key: EncodingKey,
    token_uri: reqwest::Url,
}

/// The JWT that asks for an access token.
#[derive(Debug, Serialize)]
struct Claims<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
}

/// An access token and when it stops working.
#[derive(Clone)]
struct AccessToken {
    value: String,
    expires_at: DateTime<Utc>,
}

/// Why no access token could be had.
enum TokenError {
    /// The endpoint was not reached or did not answer (safe to retry: no message left).
    NoAnswer(String),
    /// The endpoint answered an error (or a 2xx without a token).
    Refused(Answer, String),
}

/// Delivers push notifications through one Firebase project.
pub struct Fcm {
    client: reqwest::Client,
    send_url: reqwest::Url,
    key: Key,
    token: tokio::sync::Mutex<Option<AccessToken>>,
    concurrency: usize,
    timeout: std::time::Duration,
}

impl Fcm {
    pub fn new(settings: Settings, secrets: Secrets, options: &Options) -> Result<Self, ConfigError> {
        let field = "secrets/service_account_key";
        let text = secrets.service_account_key.trim();
        if text.is_empty() {
            return Err(ConfigError::new(
                field,
                "is empty; paste the service account's key file (JSON) from Firebase → Project settings → Service accounts",
            ));
        }
        // Errors say where, never what: the text holds the private key.
        let key: Value = serde_json::from_str(text).map_err(|e| {
            ConfigError::new(
                field,
                format!("is not JSON (line {}, column {}); paste the whole key file", e.line(), e.column()),
            )
        })?;
        let Value::Object(key) = key else {
            return Err(ConfigError::new(field, "must be the key file's JSON object"));
        };
        let string = |name: &str| key.get(name).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty());
        let missing = |name: &str| {
            ConfigError::new(
                format!("{field}/{name}"),
                "is missing; download a new key file from Firebase → Project settings → Service accounts",
            )
        };
        if let Some(kind) = string("type")
            && kind != "service_account"
        {
            return Err(ConfigError::new(
                format!("{field}/type"),
                format!("is `{kind}`; FCM needs a service account's key (`service_account`)"),
            ));
        }
        let client_email = string("client_email").ok_or_else(|| missing("client_email"))?.to_string();
        if !client_email.contains('@') {
            return Err(ConfigError::new(
                format!("{field}/client_email"),
                "is not the service account's email address",
            ));
        }
        let pem = string("private_key").ok_or_else(|| missing("private_key"))?;
        let bad_key = || {
            ConfigError::new(
                format!("{field}/private_key"),
                "is not an RSA private key in PEM form (`-----BEGIN PRIVATE KEY-----…`)",
            )
        };
        let signing_key = EncodingKey::from_rsa_pem(pem.as_bytes()).map_err(|_| bad_key())?;
        let token_uri = string("token_uri").unwrap_or(DEFAULT_TOKEN_URI);
        let token_uri = reqwest::Url::parse(token_uri)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some_and(|h| !h.is_empty()))
            .ok_or_else(|| ConfigError::new(format!("{field}/token_uri"), format!("expected `{DEFAULT_TOKEN_URI}`")))?;
        let key =
            Key { client_email, private_key_id: string("private_key_id").map(str::to_string), signing_key, token_uri };
        // Sign once now (at any time: the result is thrown away), so that a key that
        // parses but cannot sign is refused here rather than at the first send.
        key.assertion(DateTime::<Utc>::UNIX_EPOCH).map_err(|_| bad_key())?;

        let project_id = match settings.project_id.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            Some(p) => p.to_string(),
            None => string("project_id")
                .ok_or_else(|| {
                    ConfigError::new(
                        "settings/project_id",
                        "set the Firebase project id; the key file does not name one",
                    )
                })?
                .to_string(),
        };
        if !project_id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
            return Err(ConfigError::new(
                "settings/project_id",
                format!("`{project_id}` is not a project id (lowercase letters, digits and hyphens)"),
            ));
        }
        let base = super::base_url(settings.base_url.as_deref(), DEFAULT_BASE_URL, "settings/base_url")?;
        let send_url = base
            .join(&format!("v1/projects/{project_id}/messages:send"))
            .map_err(|e| ConfigError::new("settings/base_url", format!("cannot be joined with the API path: {e}")))?;
        let client = http::provider_client(options)?;
        Ok(Fcm {
            client,
            send_url,
            key,
            token: tokio::sync::Mutex::new(None),
            concurrency: options.concurrency.max(1),
            timeout: options.timeout,
        })
    }

    /// The JSON FCM receives for a push to the registration token `to`.
    pub fn payload(to: &str, title: &str, body: &str, url: Option<&str>) -> Value {
        let mut message = Map::new();
        message.insert("token".into(), json!(to));
        message.insert("notification".into(), json!({ "title": title, "body": body }));
        if let Some(url) = url.map(str::trim).filter(|u| !u.is_empty()) {
            message.insert("data".into(), json!({ "url": url }));
            if url.starts_with("https://") {
                message.insert("webpush".into(), json!({ "fcm_options": { "link": url } }));
            }
        }
        json!({ "message": message })
    }

    /// A valid access token: the one kept, unless it is `stale` (refused by FCM) or
    /// expires within [`REFRESH_MARGIN`]; else a new one from the token endpoint. Sends
    /// that need a token at once wait for one request.
    async fn access_token(&self, now: DateTime<Utc>, stale: Option<&str>) -> Result<String, TokenError> {
        let mut kept = self.token.lock().await;
        if let Some(t) = kept.as_ref()
            && Some(t.value.as_str()) != stale
            && now < t.expires_at - REFRESH_MARGIN
        {
            return Ok(t.value.clone());
        }
        let token = self.fetch_token(now).await?;
        let value = token.value.clone();
        *kept = Some(token);
        Ok(value)
    }

    async fn fetch_token(&self, now: DateTime<Utc>) -> Result<AccessToken, TokenError> {
        let assertion = self.key.assertion(now).map_err(|e| {
            TokenError::NoAnswer(format!("{KIND} could not sign the token request with the service-account key: {e}"))
        })?;
        let form = [("grant_type", JWT_BEARER_GRANT), ("assertion", assertion.as_str())];
        let result = self.client.post(self.key.token_uri.clone()).form(&form).send().await;
        let answer = match result {
            Ok(response) => {
                let status = response.status();
                let headers = response.headers().clone();
                match response.text().await {
                    Ok(body) => Answer { status, headers, body },
                    Err(e) => return Err(TokenError::NoAnswer(http::describe(TOKEN_ENDPOINT, &e))),
                }
            }
            Err(e) => return Err(TokenError::NoAnswer(http::describe(TOKEN_ENDPOINT, &e))),
        };
        if !answer.status.is_success() {
            let text = match serde_json::from_str::<OAuthError>(&answer.body) {
                Ok(e) => format!("{TOKEN_ENDPOINT} answered {}: {}", answer.status, e.describe()),
                Err(_) => http::failure_text(TOKEN_ENDPOINT, answer.status, &answer.body),
            };
            return Err(TokenError::Refused(answer, text));
        }
        match serde_json::from_str::<TokenResponse>(&answer.body) {
            Ok(t) if !t.access_token.is_empty() => Ok(AccessToken {
                value: t.access_token,
                expires_at: now + TimeDelta::seconds(t.expires_in.unwrap_or(3600).clamp(60, 86_400)),
            }),
            _ => {
                let text = format!("{TOKEN_ENDPOINT} answered {} without an access token", answer.status);
                // Not a token: treat as the endpoint failing, worth another try.
                let answer = Answer { status: StatusCode::BAD_GATEWAY, ..answer };
                Err(TokenError::Refused(answer, text))
            }
        }
    }

    /// The [`Delivery`] of `item` when no access token could be had.
    fn token_failure(item: &OutboxItem, error: &TokenError, now: DateTime<Utc>) -> Delivery {
        match error {
            TokenError::NoAnswer(text) => http::retry(item, text.clone()),
            TokenError::Refused(answer, text) => http::failure(item, answer, text.clone(), now, http::MAX_RETRY_AFTER),
        }
    }

    async fn post(&self, token: &str, payload: &Value) -> Result<reqwest::Response, reqwest::Error> {
        self.client.post(self.send_url.clone()).bearer_auth(token).json(payload).send().await
    }

    async fn send(&self, item: &OutboxItem, now: DateTime<Utc>) -> Delivery {
        let Rendered::Push { to, title, body, url } = &item.message else {
            return Delivery::Failed {
                error: format!(
                    "the fcm provider delivers push messages, not {}",
                    crate::store::channel_name(item.message.channel())
                ),
            };
        };
        let payload = Self::payload(to, title, body, url.as_deref());
        let mut token = match self.access_token(now, None).await {
            Ok(t) => t,
            Err(e) => return Self::token_failure(item, &e, now),
        };
        let mut refreshed = false;
        loop {
            let answer = match http::read(KIND, item, self.post(&token, &payload).await).await {
                Ok(a) => a,
                Err(failure) => return failure,
            };
            if answer.status.is_success() {
                return Delivery::Delivered;
            }
            let error = FcmError::parse(&answer.body);
            // FCM no longer takes the token (revoked or expired early): fetch a new one
            // and send once more.
            if answer.status == StatusCode::UNAUTHORIZED
                && !refreshed
                && error.as_ref().is_none_or(|e| e.is_unauthenticated())
            {
                refreshed = true;
                token = match self.access_token(now, Some(&token)).await {
                    Ok(t) => t,
                    Err(e) => return Self::token_failure(item, &e, now),
                };
                continue;
            }
            let text = match &error {
                Some(e) => format!("{KIND} answered {}: {}", answer.status, e.describe()),
                None => http::failure_text(KIND, answer.status, &answer.body),
            };
            return http::failure(item, &answer, text, now, http::MAX_RETRY_AFTER);
        }
    }
}

impl Key {
    /// The signed JWT asking for an FCM access token at `now`.
    fn assertion(&self, now: DateTime<Utc>) -> Result<String, jsonwebtoken::errors::Error> {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = self.private_key_id.clone();
        let iat = now.timestamp();
        let claims = Claims {
            iss: &self.client_email,
            scope: SCOPE,
            aud: self.key_token_uri(),
            iat,
            exp: iat + ASSERTION_LIFETIME.num_seconds(),
        };
        jsonwebtoken::encode(&header, &claims, &self.signing_key)
    }

    /// The token endpoint as the key file writes it (the JWT's audience).
    fn key_token_uri(&self) -> &str {
        self.token_uri.as_str()
    }
}

/// The token endpoint's answer.
#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<i64>,
}

/// The token endpoint's error (RFC 6749 §5.2).
#[derive(Deserialize)]
struct OAuthError {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

impl OAuthError {
    fn describe(&self) -> String {
        match self.error_description.as_deref().map(str::trim).filter(|d| !d.is_empty()) {
            Some(d) => format!("{}: {d}", self.error),
            None => self.error.clone(),
        }
    }
}

/// FCM's error body: `{"error": {"code", "message", "status", "details": [{"errorCode"}]}}`.
#[derive(Debug, Deserialize)]
struct FcmError {
    error: FcmErrorBody,
}

#[derive(Debug, Deserialize)]
struct FcmErrorBody {
    #[serde(default)]
    message: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    details: Vec<Value>,
}

impl FcmError {
    fn parse(body: &str) -> Option<FcmError> {
        serde_json::from_str(body).ok()
    }

    /// FCM's own code (`UNREGISTERED`, `QUOTA_EXCEEDED`, …), else the RPC status.
    fn code(&self) -> &str {
        self.error
            .details
            .iter()
            .filter(|d| d["@type"].as_str().is_some_and(|t| t.ends_with("google.firebase.fcm.v1.FcmError")))
            .find_map(|d| d["errorCode"].as_str())
            .unwrap_or(&self.error.status)
    }

    /// A 401 about Kairos's own access token, not about APNs or web push credentials.
    fn is_unauthenticated(&self) -> bool {
        self.code() == "UNAUTHENTICATED"
            || (self.error.status == "UNAUTHENTICATED" && self.code() != "THIRD_PARTY_AUTH_ERROR")
    }

    fn describe(&self) -> String {
        let code = self.code();
        let message = self.error.message.trim();
        match (code.is_empty(), message.is_empty()) {
            (false, false) => format!("{code}: {message}"),
            (false, true) => code.to_string(),
            (true, _) => message.to_string(),
        }
    }
}

#[async_trait::async_trait]
impl Deliver for Fcm {
    async fn deliver(&self, _store: &Store, items: &[OutboxItem], now: DateTime<Utc>) -> Vec<Delivery> {
        let sends: Vec<_> = items.iter().map(|i| self.send(i, now)).collect();
        futures::stream::iter(sends).buffered(self.concurrency).collect().await
    }

    /// FCM does not deduplicate.
    fn idempotent(&self) -> bool {
        false
    }

    fn batch(&self) -> u64 {
        self.concurrency as u64
    }

    /// A token request, a send and a second send after a refused token.
    fn batch_time(&self) -> TimeDelta {
        TimeDelta::from_std(self.timeout * 4).unwrap_or(TimeDelta::minutes(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::testing::{doc_example, item};
    use base64::Engine;

    /// A throwaway RSA key in PEM (PKCS #8), as in a key file.
    fn pem() -> String {
        use aws_lc_rs::encoding::AsDer;
        let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
        let der = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&pair).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
        let lines: Vec<&str> = b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
        format!("-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n", lines.join("\n"))
    }

    fn key_file(pem: &str) -> Value {
        json!({
            "type": "service_account", "project_id": "acme-app", "private_key_id": "0123abcd",
            "private_key": pem, "client_email": "kairos@acme-app.iam.gserviceaccount.com",
            "client_id": "1234567890", "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": "https://oauth2.googleapis.com/token", "universe_domain": "googleapis.com"
        })
    }

    fn secrets(key: &Value) -> Secrets {
        Secrets { service_account_key: key.to_string() }
    }

    fn refused(settings: Settings, secrets: Secrets) -> ConfigError {
        match Fcm::new(settings, secrets, &Options::default()) {
            Err(e) => e,
            Ok(_) => panic!("accepted"),
        }
    }

    #[test]
    fn the_doc_examples_parse() {
        let source = include_str!("fcm.rs");
        let settings: Settings = doc_example(source, "/// FCM settings");
        assert_eq!(settings.project_id.as_deref(), Some("acme-app"));
        let secrets: Secrets = doc_example(source, "/// FCM secrets");
        let key: Value = serde_json::from_str(&secrets.service_account_key).unwrap();
        assert_eq!(key["client_email"], "kairos@acme-app.iam.gserviceaccount.com");
        // The example's key is elided, and refused as such.
        assert_eq!(refused(settings, secrets).field, "secrets/service_account_key/private_key");
    }

    #[test]
    fn a_real_key_file_builds_and_bad_ones_are_refused_naming_the_field() {
        let pem = pem();
        let good = key_file(&pem);
        let fcm = Fcm::new(Settings::default(), secrets(&good), &Options::default()).unwrap();
        assert_eq!(fcm.send_url.as_str(), "https://fcm.googleapis.com/v1/projects/acme-app/messages:send");
        let other = Fcm::new(
            Settings { project_id: Some("other-app".into()), base_url: Some("http://127.0.0.1:9/fcm".into()) },
            secrets(&good),
            &Options::default(),
        )
        .unwrap();
        assert_eq!(other.send_url.as_str(), "http://127.0.0.1:9/fcm/v1/projects/other-app/messages:send");

        let with = |name: &str, value: Value| {
            let mut k = good.clone();
            k[name] = value;
            refused(Settings::default(), secrets(&k))
        };
        let without = |name: &str| {
            let mut k = good.clone();
            k.as_object_mut().unwrap().remove(name);
            refused(Settings::default(), secrets(&k))
        };
        assert_eq!(without("client_email").field, "secrets/service_account_key/client_email");
        assert_eq!(without("private_key").field, "secrets/service_account_key/private_key");
        assert_eq!(without("project_id").field, "settings/project_id");
        assert_eq!(with("type", json!("authorized_user")).field, "secrets/service_account_key/type");
        assert_eq!(with("token_uri", json!("not a url")).field, "secrets/service_account_key/token_uri");
        let garbled = pem.replace("MII", "XYZ");
        let e = with("private_key", json!(garbled));
        assert_eq!(e.field, "secrets/service_account_key/private_key");
        assert!(!e.message.contains("XYZ"), "the key is never repeated: {e}");
        let e = refused(Settings::default(), Secrets { service_account_key: "{\"private_key\": \"-----BEGIN".into() });
        assert_eq!(e.field, "secrets/service_account_key");
        assert!(e.message.contains("line 1") && !e.message.contains("BEGIN"), "{e}");
        assert_eq!(
            refused(Settings { project_id: Some("Acme App".into()), base_url: None }, secrets(&good)).field,
            "settings/project_id"
        );
        assert_eq!(
            refused(Settings { project_id: None, base_url: Some("fcm.googleapis.com".into()) }, secrets(&good)).field,
            "settings/base_url"
        );
    }

    #[test]
    fn the_assertion_is_an_rs256_jwt_for_the_messaging_scope() {
        let fcm = Fcm::new(Settings::default(), secrets(&key_file(&pem())), &Options::default()).unwrap();
        let now = Utc::now();
        let jwt = fcm.key.assertion(now).unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let decode = |s: &str| -> Value {
            serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s).unwrap()).unwrap()
        };
        assert_eq!(decode(parts[0]), json!({ "alg": "RS256", "typ": "JWT", "kid": "0123abcd" }));
        assert_eq!(
            decode(parts[1]),
            json!({ "iss": "kairos@acme-app.iam.gserviceaccount.com", "scope": SCOPE,
                    "aud": "https://oauth2.googleapis.com/token", "iat": now.timestamp(), "exp": now.timestamp() + 3600 })
        );
    }

    #[test]
    fn the_message_is_fcms_with_the_link_for_apps_and_browsers() {
        assert_eq!(
            Fcm::payload("tok-1", "Your cart", "Still there", Some("https://shop.example.com/cart")),
            json!({ "message": { "token": "tok-1", "notification": { "title": "Your cart", "body": "Still there" },
                                 "data": { "url": "https://shop.example.com/cart" },
                                 "webpush": { "fcm_options": { "link": "https://shop.example.com/cart" } } } })
        );
        assert_eq!(
            Fcm::payload("tok-1", "T", "B", Some("acme://cart")),
            json!({ "message": { "token": "tok-1", "notification": { "title": "T", "body": "B" }, "data": { "url": "acme://cart" } } })
        );
        assert_eq!(
            Fcm::payload("tok-1", "T", "B", None),
            json!({ "message": { "token": "tok-1", "notification": { "title": "T", "body": "B" } } })
        );
    }

    #[test]
    fn fcm_errors_read_as_their_fcm_code() {
        let e = FcmError::parse(
            r#"{"error": {"code": 404, "message": "Requested entity was not found.", "status": "NOT_FOUND",
                "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "UNREGISTERED"}]}}"#,
        )
        .unwrap();
        assert_eq!(e.describe(), "UNREGISTERED: Requested entity was not found.");
        let e = FcmError::parse(
            r#"{"error": {"code": 401, "message": "Request had invalid authentication credentials.", "status": "UNAUTHENTICATED"}}"#,
        )
        .unwrap();
        assert!(e.is_unauthenticated());
        let e = FcmError::parse(
            r#"{"error": {"code": 401, "message": "APNs auth failed", "status": "UNAUTHENTICATED",
                "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "THIRD_PARTY_AUTH_ERROR"}]}}"#,
        )
        .unwrap();
        assert!(!e.is_unauthenticated(), "an APNs credential problem is not ours to refresh");
    }

    #[tokio::test]
    async fn a_message_of_another_channel_fails_without_a_request() {
        let fcm = Fcm::new(Settings::default(), secrets(&key_file(&pem())), &Options::default()).unwrap();
        let sms = Rendered::Sms { to: "+1555".into(), body: "b".into() };
        assert_eq!(
            fcm.send(&item(sms), Utc::now()).await,
            Delivery::Failed { error: "the fcm provider delivers push messages, not sms".into() }
        );
    }
}
