//! A message template and the data it is rendered with: the template source, then (after
//! the first NUL byte, if any) the JSON data; without valid JSON data, the sample contact
//! publishing renders with. The template is added (compiled, its library partials
//! resolved, rendered against empty and sample data) as HTML, plain text and Slack text,
//! then rendered with the data.
//!
//! Problems are fine; a panic is a bug, and so is output over the limit that is not an error.
#![no_main]

use kairos_engine::template::{Escape, MAX_OUTPUT_BYTES, Templates, sample_data};
use kairos_fuzz::LIBRARY;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let (source, context) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let Ok(source) = std::str::from_utf8(source) else { return };
    let context: Value = serde_json::from_slice(context).unwrap_or_else(|_| sample_data());

    let mut templates = Templates::new(LIBRARY.clone(), chrono_tz::Europe::Berlin);
    for (name, escape) in [("n/html", Escape::Html), ("n/text", Escape::None), ("n/slack", Escape::Slack)] {
        if let Err(e) = templates.add(name, source, escape) {
            assert!(!e.message.is_empty(), "a template that cannot be used must say why");
            continue;
        }
        match templates.render(name, &context, escape) {
            Ok(out) => assert!(out.len() <= MAX_OUTPUT_BYTES, "{} bytes rendered without an error", out.len()),
            Err(message) => assert!(!message.is_empty(), "a failed render must say why"),
        }
    }
});
