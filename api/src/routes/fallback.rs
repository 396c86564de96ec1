//! 405 (with `Allow`) for known paths with another method; 404 for unknown `/v1` paths;
//! everything else is the editor's (see [`super::editor`]).

use crate::problem::problem;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

/// The documented paths and their methods.
pub struct RouteTable {
    routes: Vec<(Vec<String>, Vec<String>)>,
}

impl RouteTable {
    pub fn from_openapi(api: &utoipa::openapi::OpenApi) -> RouteTable {
        let routes = api
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let segments = path.trim_matches('/').split('/').map(str::to_string).collect();
                let methods = serde_json::to_value(item)
                    .ok()
                    .and_then(|v| v.as_object().cloned())
                    .map(|m| {
                        m.keys()
                            .filter(|k| ["get", "put", "post", "delete", "patch"].contains(&k.as_str()))
                            .map(|k| k.to_uppercase())
                            .collect()
                    })
                    .unwrap_or_default();
                (segments, methods)
            })
            .collect();
        RouteTable { routes }
    }

    /// The methods of the documented path `path` is. As OpenAPI matches paths, a concrete
    /// path wins over a templated one: `/v1/segments/preview` is not `/v1/segments/{id}`.
    fn allowed(&self, path: &str) -> Vec<String> {
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        let mut best: Option<(usize, Vec<String>)> = None;
        for (segments, methods) in &self.routes {
            let matches = segments.len() == parts.len()
                && segments.iter().zip(&parts).all(|(s, p)| (s.starts_with('{') && !p.is_empty()) || s == p);
            if !matches {
                continue;
            }
            let concrete = segments.iter().filter(|s| !s.starts_with('{')).count();
            match &mut best {
                Some((n, out)) if *n == concrete => out.extend(methods.iter().cloned()),
                Some((n, _)) if *n > concrete => {}
                _ => best = Some((concrete, methods.clone())),
            }
        }
        best.map(|(_, out)| out).unwrap_or_default()
    }
}

pub async fn not_found_or_not_allowed(req: HttpRequest, table: web::Data<RouteTable>) -> HttpResponse {
    let allowed = table.allowed(req.path());
    if allowed.is_empty() {
        let api = req.path() == "/v1" || req.path().starts_with("/v1/");
        if !api && let Some(response) = super::editor::serve(&req) {
            return response;
        }
        return problem(StatusCode::NOT_FOUND, "not_found", format!("there is no route {}", req.path()));
    }
    let mut response = problem(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{} does not accept {}; it accepts {}", req.path(), req.method(), allowed.join(", ")),
    );
    if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&allowed.join(", ")) {
        response.headers_mut().insert(actix_web::http::header::ALLOW, v);
    }
    response
}
