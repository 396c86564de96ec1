//! `POST /hooks/email/{provider}/{token}`: where Postmark, Resend and SendGrid post
//! their bounce and complaint events (no API key: the signed token in the URL, shown by
//! `GET /v1/email-webhooks`, proves the sender was given it). Hard bounces and spam
//! complaints suppress the address ([`crate::email_events`]), in one transaction per
//! request; a repeated event changes nothing.

use crate::email_events::{self, PayloadError, Provider};
use crate::problem::{ApiProblem, ProblemItem};
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{post, web};
use kairos_engine::store;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_actix_web::service_config::ServiceConfig;

pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(receive_email_events);
}

/// The path of a provider's webhook.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct HookPath {
    /// `postmark`, `resend` or `sendgrid`.
    provider: String,
    /// The secret of the URL `GET /v1/email-webhooks` shows.
    token: String,
}

/// What an event request did.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EmailEventsReport {
    /// Addresses suppressed by this request (a repeated one counts once, when first suppressed).
    pub suppressed: usize,
    /// Events that suppress nothing: soft bounces, deliveries, opens, ...
    pub ignored: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum EmailEventsError {
    #[error("there is no email provider `{0}`; the providers are postmark, resend and sendgrid")]
    UnknownProvider(String),
    #[error("this webhook URL is not valid; copy it again from GET /v1/email-webhooks")]
    InvalidToken,
    #[error("the body is not {provider} events: {error}")]
    Invalid { provider: &'static str, error: PayloadError },
    #[error(transparent)]
    Unexpected(#[from] store::Error),
}

impl ApiProblem for EmailEventsError {
    fn status(&self) -> StatusCode {
        match self {
            Self::UnknownProvider(_) => StatusCode::NOT_FOUND,
            Self::InvalidToken => StatusCode::FORBIDDEN,
            Self::Invalid { .. } => StatusCode::BAD_REQUEST,
            Self::Unexpected(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::UnknownProvider(_) => "not_found",
            Self::InvalidToken => "invalid_webhook_token",
            Self::Invalid { .. } => "invalid_events",
            Self::Unexpected(_) => "internal",
        }
    }
    fn items(&self) -> Vec<ProblemItem> {
        match self {
            Self::Invalid { error, .. } => vec![ProblemItem {
                pointer: error.pointer.clone(),
                node: None,
                message: error.message.clone(),
                code: "invalid_events".into(),
            }],
            _ => vec![],
        }
    }
}

crate::problem_response!(EmailEventsError);

/// Receive an email provider's bounce and complaint events: hard bounces and spam
/// complaints suppress the address (no email goes to it again, not even transactional);
/// soft bounces and other events are acknowledged and ignored.
#[utoipa::path(
    tag = "suppressions",
    params(HookPath),
    security(()),
    request_body(content = Object, description = "The provider's webhook body as it sends it: a Postmark record, a Resend event, or SendGrid's array of events"),
    responses(
        (status = 200, description = "Received", body = EmailEventsReport),
        (status = 400, description = "`invalid_events`: not the provider's format (the place is in `errors`)", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 403, description = "`invalid_webhook_token`: the URL's token is not this server's", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 404, description = "`not_found`: no such provider", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
        (status = 500, description = "`internal`: unexpected failure (logged); the provider retries", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
    )
)]
#[post("/hooks/email/{provider}/{token}")]
pub async fn receive_email_events(
    state: web::Data<AppState>,
    path: web::Path<HookPath>,
    body: web::Bytes,
) -> Result<web::Json<EmailEventsReport>, EmailEventsError> {
    let HookPath { provider, token } = path.into_inner();
    let provider = Provider::parse(&provider).ok_or(EmailEventsError::UnknownProvider(provider))?;
    if !state.scheduler.links().verify_email_events(provider.name(), &token) {
        tracing::warn!(provider = provider.name(), "Email events refused: the webhook token is not valid");
        return Err(EmailEventsError::InvalidToken);
    }
    let events = email_events::parse(provider, &body)
        .map_err(|error| EmailEventsError::Invalid { provider: provider.name(), error })?;
    let ignored = events.ignored;
    let now = state.scheduler.now();
    let reports = events.suppress;
    let suppressed = state
        .store()
        .writer()
        .run(move |tx| {
            Box::pin(async move {
                let mut n = 0;
                for r in &reports {
                    if store::suppress(tx, &r.address, r.reason, provider.name(), r.detail.as_deref(), now).await? {
                        n += 1;
                    }
                }
                Ok(n)
            })
        })
        .await?;
    tracing::info!(provider = provider.name(), suppressed, ignored, "Email events received");
    Ok(web::Json(EmailEventsReport { suppressed, ignored }))
}
