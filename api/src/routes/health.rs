//! Liveness, readiness and Prometheus metrics (no key needed).

use crate::problem::problem;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, get, web};
use std::fmt::Write;
use std::sync::atomic::Ordering;

/// The process is up.
#[utoipa::path(tag = "health", security(()), responses((status = 200, description = "Alive", body = String)))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

/// The database answers and the scheduler is running.
#[utoipa::path(tag = "health", security(()), responses(
    (status = 200, description = "Ready", body = String),
    (status = 503, description = "Not ready", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
))]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    if state.scheduler.is_draining() {
        return problem(StatusCode::SERVICE_UNAVAILABLE, "shutting_down", "the server is shutting down");
    }
    match kairos_engine::store::count_live_keys(state.store().reader()).await {
        Ok(_) => HttpResponse::Ok().content_type("text/plain").body("ready"),
        Err(e) => problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "database_unavailable",
            format!("the database does not answer: {e}"),
        ),
    }
}

/// Prometheus metrics: runs by status, transitions, node steps, outbox backlog, scheduler lag.
#[utoipa::path(tag = "health", security(()), responses(
    (status = 200, description = "Prometheus text format", body = String, content_type = "text/plain"),
    (status = 503, description = "The database does not answer", body = crate::problem::ProblemDetails, content_type = "application/problem+json"),
))]
#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    let s = &state.scheduler;
    let reader = state.store().reader();
    let (runs, backlog, lag) =
        match (s.runs_by_status().await, kairos_engine::store::outbox_backlog(reader).await, s.lag().await) {
            (Ok(r), Ok(b), Ok(l)) => (r, b, l),
            _ => {
                return problem(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "database_unavailable",
                    "the database does not answer",
                );
            }
        };
    let m = &s.metrics;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP kairos_runs Runs by status in the hot runs table (ended runs move to the archive after --archive-after and are not counted).\n# TYPE kairos_runs gauge"
    );
    for (status, n) in runs {
        let _ = writeln!(out, "kairos_runs{{status=\"{status}\"}} {n}");
    }
    for (name, help, value) in [
        ("kairos_transitions_total", "Run transitions committed.", m.transitions.load(Ordering::Relaxed)),
        ("kairos_node_steps_total", "Nodes entered by runs.", m.node_steps.load(Ordering::Relaxed)),
        ("kairos_runs_started_total", "Runs started.", m.runs_started.load(Ordering::Relaxed)),
        ("kairos_events_ingested_total", "Events ingested.", m.events_ingested.load(Ordering::Relaxed)),
        ("kairos_messages_delivered_total", "Messages delivered.", m.messages_delivered.load(Ordering::Relaxed)),
        (
            "kairos_stale_commits_total",
            "Transitions rejected because another committed first.",
            m.stale_commits.load(Ordering::Relaxed),
        ),
        (
            "kairos_events_caught_up_total",
            "Events delivered to runs that began waiting for them while the events arrived.",
            m.caught_up.load(Ordering::Relaxed),
        ),
    ] {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}");
    }
    let _ = writeln!(
        out,
        "# HELP kairos_resume_lateness_ms How late due runs were stepped (since start).\n# TYPE kairos_resume_lateness_ms summary"
    );
    let (values, samples) = m.lateness_percentiles(&[50.0, 99.0, 100.0]);
    for (q, v) in ["0.5", "0.99", "1"].into_iter().zip(values) {
        let _ = writeln!(out, "kairos_resume_lateness_ms{{quantile=\"{q}\"}} {}", v.unwrap_or(0));
    }
    let _ = writeln!(out, "kairos_resume_lateness_ms_count {samples}");
    let _ = writeln!(
        out,
        "# HELP kairos_outbox_backlog Messages waiting for delivery.\n# TYPE kairos_outbox_backlog gauge\nkairos_outbox_backlog {backlog}"
    );
    let _ = writeln!(
        out,
        "# HELP kairos_scheduler_lag_seconds How overdue the earliest due run is.\n# TYPE kairos_scheduler_lag_seconds gauge\nkairos_scheduler_lag_seconds {:.3}",
        lag.num_milliseconds() as f64 / 1000.0
    );
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(out)
}
