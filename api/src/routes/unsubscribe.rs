//! The public unsubscribe page, reached from `{{unsubscribe_url}}` in a message (no
//! sign-in: the signed token in the URL says who and what).
//!
//! - `GET /unsubscribe/{token}` shows what will stop (the channel, or the topic) and a
//!   button; nothing changes on a GET, so link scanners that follow links do no harm.
//! - `POST /unsubscribe/{token}` unsubscribes and says so, with a button to subscribe
//!   again. Mail clients' one-click unsubscribe (RFC 8058: `List-Unsubscribe-Post:
//!   List-Unsubscribe=One-Click`) posts `List-Unsubscribe=One-Click` here. A form field
//!   `scope=channel` on a topic's link leaves the whole channel; `action=resubscribe`
//!   subscribes again. Doing it twice is harmless.
//! - A forged, tampered or truncated token gets a 400 page saying so.
//!
//! The pages are small HTML with inline styles and no JavaScript.

use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, get, post, web};
use kairos_engine::consent::{Status, Unsubscribe};
use kairos_engine::store::{self, ConsentScope, ConsentSource};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_actix_web::service_config::ServiceConfig;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(unsubscribe_page).service(unsubscribe_post);
}

/// The path of the unsubscribe page.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TokenPath {
    /// The signed token of the message's `{{unsubscribe_url}}`.
    token: String,
}

/// What a POST asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Unsubscribe { whole_channel: bool, one_click: bool },
    Resubscribe { whole_channel: bool },
}

impl Action {
    /// From a form body (`application/x-www-form-urlencoded`, or the `multipart/form-data`
    /// some mail clients post for one-click): anything but `action=resubscribe` unsubscribes.
    fn parse(body: &[u8]) -> Action {
        let text = String::from_utf8_lossy(body);
        let fields: Vec<(&str, &str)> =
            text.split('&').filter_map(|pair| pair.split_once('=')).map(|(k, v)| (k.trim(), v.trim())).collect();
        let field = |name: &str| fields.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
        let whole_channel = field("scope") == Some("channel");
        if field("action") == Some("resubscribe") {
            return Action::Resubscribe { whole_channel };
        }
        let one_click = field("List-Unsubscribe") == Some("One-Click") || text.contains("One-Click");
        Action::Unsubscribe { whole_channel, one_click }
    }
}

/// What a token's target is, in words for the page.
struct Target {
    unsubscribe: Unsubscribe,
    /// The topic's name (its id when the topic was deleted).
    topic_name: Option<String>,
    topic_description: Option<String>,
    /// Whether the contact still exists (an erased contact has nothing left to stop).
    contact_exists: bool,
    /// The current status of the token's scope.
    status: Status,
    /// The current status of the whole channel.
    channel_status: Status,
}

impl Target {
    fn scope(&self, whole_channel: bool) -> ConsentScope {
        match (&self.unsubscribe.topic, whole_channel) {
            (Some(t), false) => ConsentScope::Topic(t.clone()),
            _ => ConsentScope::Channel(self.unsubscribe.channel),
        }
    }

    /// "the Weekly newsletter emails", "marketing email".
    fn what(&self, whole_channel: bool) -> String {
        let messages = self.unsubscribe.channel.messages();
        match (&self.topic_name, whole_channel) {
            (Some(name), false) => format!("{} {messages}", escape(name)),
            _ => format!("marketing {messages}"),
        }
    }
}

async fn target(state: &AppState, token: &str) -> Result<Option<Target>, store::Error> {
    let Some(unsubscribe) = state.scheduler.links().verify_unsubscribe(token) else { return Ok(None) };
    let reader = state.store().reader();
    let (topic_name, topic_description) = match &unsubscribe.topic {
        Some(t) => match store::get_topic(reader, t).await? {
            Some(topic) => (Some(topic.name), Some(topic.description).filter(|d| !d.is_empty())),
            None => (Some(t.clone()), None),
        },
        None => (None, None),
    };
    let contact = store::get_contact(reader, &unsubscribe.contact).await?;
    let subscriptions = contact.as_ref().map(|c| c.contact.subscriptions.clone()).unwrap_or_default();
    let channel_status = subscriptions.channel(unsubscribe.channel);
    let status = match &unsubscribe.topic {
        Some(t) => subscriptions.topic(t),
        None => channel_status,
    };
    Ok(Some(Target {
        unsubscribe,
        topic_name,
        topic_description,
        contact_exists: contact.is_some(),
        status,
        channel_status,
    }))
}

/// The confirmation page: what will stop, and the button.
#[utoipa::path(
    tag = "unsubscribe",
    params(TokenPath),
    security(()),
    responses(
        (status = 200, description = "The confirmation page (HTML): what will stop, and a button that posts to the same URL", content_type = "text/html"),
        (status = 400, description = "The link is not valid (forged, changed or cut short): a page saying so", content_type = "text/html"),
    )
)]
#[get("/unsubscribe/{token}")]
pub async fn unsubscribe_page(state: web::Data<AppState>, path: web::Path<TokenPath>) -> HttpResponse {
    let token = path.into_inner().token;
    let target = match target(&state, &token).await {
        Ok(Some(t)) => t,
        Ok(None) => return invalid_link(),
        Err(e) => return unavailable(&e),
    };
    let channel = target.unsubscribe.channel.messages();
    if target.contact_exists && target.status == Status::Unsubscribed {
        let body = format!(
            "<h1>You are unsubscribed</h1><p>You no longer receive {}.</p>{}",
            target.what(false),
            resubscribe_form(false)
        );
        return page(StatusCode::OK, "Unsubscribed", &body);
    }
    let description = target
        .topic_description
        .as_deref()
        .map(|d| format!("<p class=\"muted\">{}</p>", escape(d)))
        .unwrap_or_default();
    let mut body = format!(
        "<h1>Unsubscribe?</h1><p>You will no longer receive {}.</p>{description}\
         <p class=\"muted\">Messages you need about your account or orders (receipts, password resets) still reach you.</p>\
         <form method=\"post\"><input type=\"hidden\" name=\"action\" value=\"unsubscribe\">\
         <button type=\"submit\">Unsubscribe</button></form>",
        target.what(false)
    );
    if target.unsubscribe.topic.is_some() && target.channel_status == Status::Subscribed {
        body.push_str(&format!(
            "<form method=\"post\"><input type=\"hidden\" name=\"action\" value=\"unsubscribe\">\
             <input type=\"hidden\" name=\"scope\" value=\"channel\">\
             <button type=\"submit\" class=\"secondary\">Unsubscribe from all marketing {channel}</button></form>"
        ));
    }
    page(StatusCode::OK, "Unsubscribe", &body)
}

/// Unsubscribe (or, with `action=resubscribe`, subscribe again); also the RFC 8058
/// one-click POST.
#[utoipa::path(
    tag = "unsubscribe",
    params(TokenPath),
    security(()),
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
        description = "`List-Unsubscribe=One-Click` (RFC 8058), or the page's form: `action=unsubscribe|resubscribe`, optionally `scope=channel` to leave the whole channel from a topic's link"),
    responses(
        (status = 200, description = "Done: a page saying what changed (HTML)", content_type = "text/html"),
        (status = 400, description = "The link is not valid (forged, changed or cut short): a page saying so", content_type = "text/html"),
    )
)]
#[post("/unsubscribe/{token}")]
pub async fn unsubscribe_post(
    state: web::Data<AppState>,
    path: web::Path<TokenPath>,
    body: web::Bytes,
) -> HttpResponse {
    let token = path.into_inner().token;
    let target = match target(&state, &token).await {
        Ok(Some(t)) => t,
        Ok(None) => return invalid_link(),
        Err(e) => return unavailable(&e),
    };
    let action = Action::parse(&body);
    let (whole_channel, status, source) = match action {
        Action::Unsubscribe { whole_channel, one_click } => (
            whole_channel,
            Status::Unsubscribed,
            if one_click { ConsentSource::OneClick } else { ConsentSource::UnsubscribePage },
        ),
        Action::Resubscribe { whole_channel } => (whole_channel, Status::Subscribed, ConsentSource::UnsubscribePage),
    };
    if target.contact_exists {
        let scope = target.scope(whole_channel);
        let contact = target.unsubscribe.contact.clone();
        let now = state.scheduler.now();
        let saved = state
            .store()
            .writer()
            .run(move |tx| {
                Box::pin(async move { store::set_consents(tx, &contact, &[(scope, status)], source, now).await })
            })
            .await;
        if let Err(e) = saved {
            return unavailable(&e);
        }
        tracing::info!(
            channel = %target.unsubscribe.channel,
            topic = ?target.unsubscribe.topic,
            whole_channel,
            status = status.name(),
            source = source.name(),
            "Subscription changed by the contact"
        );
    }
    let what = target.what(whole_channel);
    let body = match status {
        Status::Unsubscribed => format!(
            "<h1>You are unsubscribed</h1><p>You will no longer receive {what}.</p>{}",
            resubscribe_form(whole_channel)
        ),
        Status::Subscribed => format!("<h1>Welcome back</h1><p>You are subscribed to {what} again.</p>"),
    };
    page(StatusCode::OK, "Unsubscribed", &body)
}

/// The "changed your mind?" form; `whole_channel` when it was the whole channel that was left.
fn resubscribe_form(whole_channel: bool) -> String {
    let scope = if whole_channel { "<input type=\"hidden\" name=\"scope\" value=\"channel\">" } else { "" };
    format!(
        "<p class=\"muted\">Changed your mind?</p><form method=\"post\">\
         <input type=\"hidden\" name=\"action\" value=\"resubscribe\">{scope}\
         <button type=\"submit\" class=\"secondary\">Subscribe again</button></form>"
    )
}

fn invalid_link() -> HttpResponse {
    page(
        StatusCode::BAD_REQUEST,
        "Link not valid",
        "<h1>This link is not valid</h1><p>The unsubscribe link may have been cut short or changed when it was \
         copied. Open it again from the message, or use the unsubscribe option of your mail app.</p>",
    )
}

fn unavailable(e: &store::Error) -> HttpResponse {
    tracing::error!(error = %e, "The unsubscribe page could not be served");
    page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Try again",
        "<h1>Please try again</h1><p>We could not handle this right now; nothing was changed. Try again in a minute.</p>",
    )
}

/// A whole HTML page: not cached, not indexed, not leaking the token as a referrer.
fn page(status: StatusCode, title: &str, body: &str) -> HttpResponse {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><meta name=\"robots\" content=\"noindex\">\
         <title>{title}</title><style>\
         body{{font-family:system-ui,-apple-system,Segoe UI,sans-serif;background:#f5f6f8;color:#1d2330;margin:0}}\
         main{{max-width:28rem;margin:4rem auto;background:#fff;border-radius:12px;padding:2rem;box-shadow:0 1px 4px rgba(0,0,0,.08)}}\
         h1{{font-size:1.4rem;margin-top:0}}.muted{{color:#5b6475;font-size:.95rem}}\
         button{{font:inherit;border:0;border-radius:8px;padding:.7rem 1.2rem;background:#2957d9;color:#fff;cursor:pointer;margin-top:.5rem}}\
         button.secondary{{background:#e8ebf2;color:#1d2330}}form{{margin:0 0 .5rem}}\
         </style></head><body><main>{body}</main></body></html>"
    );
    HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .insert_header((header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")))
        .insert_header(("X-Robots-Tag", "noindex"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"),
        ))
        .content_type("text/html; charset=utf-8")
        .body(html)
}

/// Text made safe to put in HTML.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn posts_unsubscribe_unless_they_ask_to_resubscribe() {
        assert_eq!(
            Action::parse(b"List-Unsubscribe=One-Click"),
            Action::Unsubscribe { whole_channel: false, one_click: true }
        );
        assert_eq!(Action::parse(b""), Action::Unsubscribe { whole_channel: false, one_click: false });
        assert_eq!(
            Action::parse(b"action=unsubscribe&scope=channel"),
            Action::Unsubscribe { whole_channel: true, one_click: false }
        );
        assert_eq!(Action::parse(b"action=resubscribe"), Action::Resubscribe { whole_channel: false });
        let multipart = b"--x\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\nOne-Click\r\n--x--";
        assert_eq!(Action::parse(multipart), Action::Unsubscribe { whole_channel: false, one_click: true });
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(escape("<b>\"Tips\" & 'tricks'</b>"), "&lt;b&gt;&quot;Tips&quot; &amp; &#39;tricks&#39;&lt;/b&gt;");
    }
}
