//! The browser editor: the files Vite builds into `editor-web/dist`, embedded in the
//! binary with rust-embed (debug builds read them from that folder), served at `/`.
//!
//! - a path that names a file (`/assets/…`, or a last segment with a dot) gets the file,
//!   or a 404 problem when there is none;
//! - any other path (`/`, `/login`, `/journeys/{id}`, `/settings`) gets `index.html`, so
//!   the editor's client-side routes work on reload;
//! - `/assets/*` names are content-hashed by Vite: cached for a year, `immutable`;
//!   `index.html` and other files are revalidated on every load (`no-cache`).

use crate::problem::problem;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "../editor-web/dist"]
struct Dist;

const INDEX: &str = "index.html";
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const REVALIDATE: &str = "no-cache";

/// Whether a path names a file rather than a page of the editor.
fn is_file_path(path: &str) -> bool {
    path.starts_with("/assets/") || path.rsplit('/').next().is_some_and(|last| last.contains('.'))
}

/// Answer a GET or HEAD outside `/v1` from the editor's files; `None` for other methods.
pub fn serve(req: &HttpRequest) -> Option<HttpResponse> {
    if !matches!(*req.method(), Method::GET | Method::HEAD) {
        return None;
    }
    let path = req.path();
    let (name, file) = if is_file_path(path) {
        let name = path.trim_start_matches('/');
        match Dist::get(name) {
            Some(file) => (name, file),
            None => {
                return Some(problem(StatusCode::NOT_FOUND, "not_found", format!("there is no file {path}")));
            }
        }
    } else {
        match Dist::get(INDEX) {
            Some(file) => (INDEX, file),
            None => {
                tracing::error!("The editor's index.html is missing from the build");
                return Some(problem(
                    StatusCode::NOT_FOUND,
                    "not_found",
                    "the editor is not part of this build; run `npm ci && npm run build` in editor-web",
                ));
            }
        }
    };
    let mime = mime_guess::from_path(name).first_or_octet_stream();
    let cache = if name.starts_with("assets/") { IMMUTABLE } else { REVALIDATE };
    let etag = format!("\"{}\"", file.metadata.sha256_hash().iter().map(|b| format!("{b:02x}")).collect::<String>());
    let fresh = req.headers().get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).is_some_and(|v| v == etag);
    let mut response = if fresh { HttpResponse::NotModified() } else { HttpResponse::Ok() };
    response
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static(cache)))
        .insert_header((header::ETAG, etag))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")));
    if fresh {
        return Some(response.finish());
    }
    response.content_type(mime.as_ref());
    Some(if *req.method() == Method::HEAD { response.finish() } else { response.body(file.data.into_owned()) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_and_files_are_told_apart() {
        for page in ["/", "/login", "/journeys/abandoned-cart", "/settings", "/journeys/x/versions/2"] {
            assert!(!is_file_path(page), "{page}");
        }
        for file in ["/assets/index-3f2a.js", "/assets/missing", "/favicon.svg", "/robots.txt"] {
            assert!(is_file_path(file), "{file}");
        }
    }
}
