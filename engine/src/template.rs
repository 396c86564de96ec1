//! Handlebars templates of send nodes, compiled once per journey version.
//!
//! Three registries: email bodies are HTML and escape what they insert; Slack mrkdwn
//! escapes `&`, `<` and `>` in what it inserts (so a contact's value cannot become a
//! mention such as `<!channel>` or a link); every other field (subjects, SMS, push, URLs,
//! webhook values) is plain text and inserts verbatim.

use handlebars::Handlebars;
use serde_json::Value;

/// The compiled templates of one journey, keyed by `<node id>/<field pointer>`.
pub struct Templates {
    html: Handlebars<'static>,
    text: Handlebars<'static>,
    slack: Handlebars<'static>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templates").finish_non_exhaustive()
    }
}

impl Default for Templates {
    fn default() -> Self {
        let html = Handlebars::new();
        let mut text = Handlebars::new();
        text.register_escape_fn(handlebars::no_escape);
        let mut slack = Handlebars::new();
        slack.register_escape_fn(escape_mrkdwn);
        Templates { html, text, slack }
    }
}

/// Slack's control characters in inserted text, as Slack documents for `mrkdwn`
/// (<https://api.slack.com/reference/surfaces/formatting#escaping>): only `&`, `<`, `>`.
pub fn escape_mrkdwn(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// How a template escapes the values it inserts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    /// HTML (email bodies).
    Html,
    /// Slack `mrkdwn`: `&`, `<`, `>`.
    Slack,
    /// Verbatim.
    None,
}

impl Templates {
    fn registry(&self, escape: Escape) -> &Handlebars<'static> {
        match escape {
            Escape::Html => &self.html,
            Escape::Slack => &self.slack,
            Escape::None => &self.text,
        }
    }

    /// Compile `source` under `name`. The template is also rendered once against empty
    /// data so that unknown helpers and partials are caught now rather than at send time.
    pub fn add(&mut self, name: &str, source: &str, escape: Escape) -> Result<(), String> {
        let registry = match escape {
            Escape::Html => &mut self.html,
            Escape::Slack => &mut self.slack,
            Escape::None => &mut self.text,
        };
        registry.register_template_string(name, source).map_err(|e| compile_error(&e))?;
        let empty = serde_json::json!({ "contact": {}, "trigger": {}, "event": {}, "journey": {} });
        if let Err(e) = registry.render(name, &empty) {
            registry.unregister_template(name);
            return Err(format!("the template cannot be rendered: {}", describe(&e.to_string())));
        }
        Ok(())
    }

    pub fn render(&self, name: &str, data: &Value, escape: Escape) -> Result<String, String> {
        self.registry(escape).render(name, data).map_err(|e| describe(&e.to_string()))
    }
}

/// A compile error in words: where it is and the usual cause.
fn compile_error(e: &handlebars::TemplateError) -> String {
    use handlebars::TemplateErrorReason as R;
    let at = e.pos().map_or(String::new(), |(line, column)| format!(" at line {line}, column {column}"));
    let what = match e.reason() {
        R::InvalidSyntax(_) => {
            "invalid handlebars syntax; check that every `{{` has its `}}` and every block such as `{{#if …}}` is closed (`{{/if}}`)".to_string()
        }
        R::MismatchingClosedHelper(open, close) => {
            format!("the block `{{{{#{open}}}}}` is closed by `{{{{/{close}}}}}`; close it with `{{{{/{open}}}}}`")
        }
        other => other.to_string(),
    };
    format!("the template does not compile{at}: {what}")
}

/// Handlebars' messages span several lines with a source excerpt; keep the first line.
fn describe(message: &str) -> String {
    message.lines().next().unwrap_or(message).trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn html_escapes_and_text_does_not() {
        let mut t = Templates::default();
        t.add("a/body", "Hi {{contact.first_name}}", Escape::Html).unwrap();
        t.add("a/subject", "Hi {{contact.first_name}}", Escape::None).unwrap();
        let data = json!({ "contact": { "first_name": "Ann & <Bob>" } });
        assert_eq!(t.render("a/body", &data, Escape::Html).unwrap(), "Hi Ann &amp; &lt;Bob&gt;");
        assert_eq!(t.render("a/subject", &data, Escape::None).unwrap(), "Hi Ann & <Bob>");
    }

    #[test]
    fn slack_text_escapes_only_its_control_characters() {
        let mut t = Templates::default();
        t.add(
            "a/text",
            "<https://crm.example.com|Lead> {{contact.name}} \"{{contact.note}}\" {{{contact.raw}}}",
            Escape::Slack,
        )
        .unwrap();
        let data = json!({ "contact": { "name": "<!channel> & co", "note": "it's", "raw": "<@U1>" } });
        assert_eq!(
            t.render("a/text", &data, Escape::Slack).unwrap(),
            "<https://crm.example.com|Lead> &lt;!channel&gt; &amp; co \"it's\" <@U1>"
        );
    }

    #[test]
    fn broken_templates_are_refused_at_compile_time() {
        let mut t = Templates::default();
        let err = t.add("x", "Hello {{#if contact.vip}}VIP", Escape::None).unwrap_err();
        assert!(err.contains("does not compile"), "{err}");
        let err = t.add("y", "{{shout contact.name}}", Escape::None).unwrap_err();
        assert!(err.contains("cannot be rendered"), "{err}");
        let err = t.add("z", "{{> footer}}", Escape::None).unwrap_err();
        assert!(err.contains("cannot be rendered"), "{err}");
    }
}
