//! The SMTP provider end to end: a real SMTP server (aiosmtpd, `tests/support/smtp_sink.py`,
//! started per test on 127.0.0.1) receives the actual email, sent by the real dispatcher.
//!
//! The server's Python is `$KAIROS_TEST_PYTHON`, else the repository's `.venv/bin/python`,
//! else `python3`, and must import `aiosmtpd` (`python3 -m venv .venv && .venv/bin/pip
//! install aiosmtpd==1.4.6`, as `scripts/test` does). Without it the tests fail under
//! `CI=true` and are skipped, with the reason printed, elsewhere.

mod email_support;

use chrono::TimeDelta;
use email_support::*;
use kairos_engine::delivery::smtp;
use kairos_engine::scheduler::Deliver;
use kairos_engine::store::OutboxStatus;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncBufReadExt;

// ----- The SMTP server -----

/// A message as the SMTP server received it.
#[derive(Debug, Clone)]
struct Received {
    mail_from: String,
    rcpt_tos: Vec<String>,
    reply: String,
    peer_port: u64,
    login: Option<String>,
    raw: String,
}

impl Received {
    /// The value of header `name` (unfolded), from the message's header section.
    fn header(&self, name: &str) -> Option<String> {
        let head = self.raw.split("\r\n\r\n").next().unwrap_or_default().replace("\r\n ", " ").replace("\r\n\t", " ");
        head.split("\r\n").find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
}

struct Sink {
    port: u16,
    dir: tempfile::TempDir,
    _child: tokio::process::Child,
}

/// The Python that has aiosmtpd, or why there is none.
fn python() -> Result<PathBuf, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let candidates: Vec<PathBuf> = match std::env::var_os("KAIROS_TEST_PYTHON") {
        Some(p) => vec![p.into()],
        None => vec![root.join(".venv/bin/python"), "python3".into()],
    };
    for python in &candidates {
        let ok = std::process::Command::new(python)
            .args(["-c", "import aiosmtpd"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return Ok(python.clone());
        }
    }
    Err(format!(
        "no Python with aiosmtpd (tried {candidates:?}); install it with `python3 -m venv .venv && .venv/bin/pip install aiosmtpd==1.4.6`"
    ))
}

impl Sink {
    /// A running SMTP server; `None` (with the reason printed) when it cannot run here
    /// outside CI.
    async fn start(auth: Option<&str>) -> Option<Sink> {
        let python = match python() {
            Ok(p) => p,
            Err(reason) if std::env::var("CI").as_deref() == Ok("true") => {
                panic!("the SMTP tests need aiosmtpd in CI: {reason}")
            }
            Err(reason) => {
                eprintln!("skipped: {reason}");
                return None;
            }
        };
        let dir = tempfile::tempdir().unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/smtp_sink.py");
        let mut command = tokio::process::Command::new(python);
        command.arg(script).arg(dir.path());
        if let Some(a) = auth {
            command.args(["--auth", a]);
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("the SMTP server starts");
        let stdout = child.stdout.take().unwrap();
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("the SMTP server says its port within 20 s")
            .unwrap()
            .expect("the SMTP server prints its port");
        let port = line.trim().parse().expect("a port number");
        Some(Sink { port, dir, _child: child })
    }

    /// Every message received so far, in order.
    fn messages(&self) -> Vec<Received> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        names.sort();
        names
            .into_iter()
            .map(|json_path| {
                let meta: Value = serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
                let raw = std::fs::read_to_string(json_path.with_extension("eml")).unwrap();
                Received {
                    mail_from: meta["mail_from"].as_str().unwrap().to_string(),
                    rcpt_tos: meta["rcpt_tos"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|v| v.as_str().unwrap().to_string())
                        .collect(),
                    reply: meta["reply"].as_str().unwrap().to_string(),
                    peer_port: meta["peer_port"].as_u64().unwrap(),
                    login: meta["login"].as_str().map(String::from),
                    raw,
                }
            })
            .collect()
    }

    /// The SMTP provider for this server, plain text on 127.0.0.1.
    fn provider(&self, settings: Value, secrets: Value) -> Arc<smtp::Smtp> {
        let mut s =
            json!({ "host": "127.0.0.1", "port": self.port, "security": "none", "from": "Acme <news@acme.example>" });
        s.as_object_mut().unwrap().extend(settings.as_object().unwrap().clone());
        let settings: smtp::Settings = serde_json::from_value(s).unwrap();
        let secrets: smtp::Secrets = serde_json::from_value(secrets).unwrap();
        Arc::new(smtp::Smtp::new(settings, secrets, &options()).unwrap())
    }
}

/// The Message-ID the provider gives the email of outbox key `key` from `domain`.
fn message_id(key: &str, domain: &str) -> String {
    kairos_engine::delivery::email::message_id(key, domain)
}

// ----- The tests -----

#[tokio::test]
async fn smtp_delivers_the_real_email_multipart_with_its_headers() {
    let Some(sink) = Sink::start(None).await else { return };
    let h = harness(sink.provider(json!({}), json!({}))).await;
    let run = start(&h, "ann", "Ann Lee <ann@example.com>").await;
    set_unsubscribe_url(&h, &run, "https://kairos.example/u/ann-signed-0123456789abcdef").await;

    assert_eq!(dispatch(&h).await, 1);
    let row = entry(&h, &run).await;
    assert_eq!((row.status, row.attempts, row.last_error.as_deref()), (OutboxStatus::Sent, 1, None));
    let got = sink.messages();
    assert_eq!(got.len(), 1);
    let m = &got[0];
    assert_eq!(m.mail_from, "news@acme.example");
    assert_eq!(m.rcpt_tos, ["ann@example.com"]);
    assert_eq!(m.header("From").as_deref(), Some("Acme <news@acme.example>"));
    assert_eq!(m.header("To").as_deref(), Some("\"Ann Lee\" <ann@example.com>"));
    assert_eq!(m.header("Reply-To").as_deref(), Some("Support <support@acme.example>"));
    assert_eq!(m.header("Subject").as_deref(), Some("Welcome, Ann"));
    assert_eq!(m.header("X-Campaign").as_deref(), Some("welcome-pro"));
    assert_eq!(m.header("List-Unsubscribe").as_deref(), Some("<https://kairos.example/u/ann-signed-0123456789abcdef>"));
    assert_eq!(m.header("List-Unsubscribe-Post").as_deref(), Some("List-Unsubscribe=One-Click"));
    assert_eq!(m.header("Message-ID"), Some(message_id(&row.key, "acme.example")));
    assert_eq!(m.header("Date").as_deref(), Some("Mon, 02 Mar 2026 10:00:00 +0000"), "the scheduler's clock");
    assert_eq!(m.header("MIME-Version").as_deref(), Some("1.0"));
    let content_type = m.header("Content-Type").unwrap();
    assert!(content_type.starts_with("multipart/alternative; boundary="), "{content_type}");
    let boundary = content_type.split("boundary=").nth(1).unwrap().trim_matches('"');
    let parts: Vec<&str> = m.raw.split(&format!("--{boundary}")).collect();
    assert_eq!(parts.len(), 4, "preamble, two parts, the end: {}", m.raw);
    assert!(parts[1].contains("Content-Type: text/plain; charset=utf-8"), "{}", parts[1]);
    assert!(parts[1].contains("\r\n\r\nHello Ann, your plan is pro."), "{}", parts[1]);
    assert!(parts[2].contains("Content-Type: text/html; charset=utf-8"), "{}", parts[2]);
    assert!(parts[2].contains("\r\n\r\n<p>Hello Ann, your plan is <b>pro</b>.</p>"), "{}", parts[2]);
    assert_eq!(parts[3].trim(), "--");

    // The next message goes over the same connection.
    let bob = start(&h, "bob", "bob@example.com").await;
    assert_eq!(dispatch(&h).await, 1);
    let got = sink.messages();
    assert_eq!(got.len(), 2);
    assert_eq!(got[1].rcpt_tos, ["bob@example.com"]);
    assert_eq!(got[1].header("Message-ID"), Some(message_id(&entry(&h, &bob).await.key, "acme.example")));
    assert_eq!(got[0].peer_port, got[1].peer_port, "the connection was reused");
    // Nothing is sent twice.
    assert_eq!(advance(&h, TimeDelta::hours(1)).await, 0);
    assert_eq!(sink.messages().len(), 2);
}

#[tokio::test]
async fn smtp_550_fails_at_once_with_the_servers_reply() {
    let Some(sink) = Sink::start(None).await else { return };
    let h = harness(sink.provider(json!({}), json!({}))).await;
    let run = start(&h, "ann", "reject550@example.com").await;

    assert_eq!(dispatch(&h).await, 0);
    let row = entry(&h, &run).await;
    assert_eq!((row.status, row.attempts, row.next_attempt_at), (OutboxStatus::Failed, 1, None));
    assert_eq!(
        row.last_error.as_deref(),
        Some(
            "smtp server answered 550: 5.1.1 <reject550@example.com>: Recipient address rejected: User unknown in local recipient table"
        )
    );
    assert_eq!(advance(&h, TimeDelta::days(1)).await, 0);
    assert!(sink.messages().is_empty());
    let failures = failures_on_timeline(&h, &run).await;
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0]["channel"], "email");

    // The connection is still good for the next message.
    let bob = start(&h, "bob", "bob@example.com").await;
    assert_eq!(dispatch(&h).await, 1);
    assert_eq!(entry(&h, &bob).await.status, OutboxStatus::Sent);
}

#[tokio::test]
async fn smtp_451_is_retried_with_backoff_and_the_resent_copy_keeps_its_message_id() {
    let Some(sink) = Sink::start(None).await else { return };
    let h = harness(sink.provider(json!({}), json!({}))).await;
    let flaky = start(&h, "ann", "flaky451@example.com").await;
    let busy = start(&h, "bob", "busy451@example.com").await;

    assert_eq!(dispatch(&h).await, 0);
    for run in [&flaky, &busy] {
        let row = entry(&h, run).await;
        assert_eq!((row.status, row.attempts), (OutboxStatus::Pending, 1));
        assert!(row.last_error.as_deref().unwrap().starts_with("smtp server answered 451: 4.3.0"), "{row:?}");
        let wait = wait_of(&h, &row);
        assert!(wait >= TimeDelta::seconds(2) && wait <= TimeDelta::milliseconds(2800), "{wait}");
    }
    assert_eq!(advance(&h, TimeDelta::seconds(1)).await, 0, "not before the backoff");
    assert_eq!(sink.messages().len(), 1, "only the first copy, answered 451 after its data");

    assert_eq!(advance(&h, TimeDelta::seconds(2)).await, 1, "the flaky one; the busy one waits again");
    let row = entry(&h, &flaky).await;
    assert_eq!((row.status, row.attempts, row.last_error.as_deref()), (OutboxStatus::Sent, 2, None));
    let got = sink.messages();
    assert_eq!(got.len(), 2);
    assert!(got[0].reply.starts_with("451") && got[1].reply.starts_with("250"));
    assert_eq!(got[0].header("Message-ID"), got[1].header("Message-ID"), "the same message, the same Message-ID");
    assert_eq!(got[1].header("Message-ID"), Some(message_id(&row.key, "acme.example")));
    let busy_row = entry(&h, &busy).await;
    assert_eq!((busy_row.status, busy_row.attempts), (OutboxStatus::Pending, 2));
}

#[tokio::test]
async fn smtp_timeout_after_the_data_is_uncertain_and_retried() {
    let Some(sink) = Sink::start(None).await else { return };
    let h = harness(sink.provider(json!({}), json!({}))).await;
    let run = start(&h, "ann", "hang@example.com").await;

    let began = std::time::Instant::now();
    assert_eq!(dispatch(&h).await, 0);
    assert!(began.elapsed() < Duration::from_secs(3), "the 400 ms timeout cut the wait");
    let row = entry(&h, &run).await;
    assert_eq!((row.status, row.attempts), (OutboxStatus::Pending, 1));
    let error = row.last_error.clone().unwrap();
    assert!(error.contains("timed out after the message was sent; it may have been delivered"), "{error}");
    assert_eq!(sink.messages().len(), 1, "the server did get the data");

    assert_eq!(advance(&h, TimeDelta::seconds(3)).await, 1);
    assert_eq!(entry(&h, &run).await.status, OutboxStatus::Sent);
    let got = sink.messages();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].header("Message-ID"), got[1].header("Message-ID"), "a receiver can tell the copy");
}

#[tokio::test]
async fn smtp_signs_in_and_a_wrong_password_fails_without_showing_it() {
    let Some(sink) = Sink::start(Some("kairos:s3cret-Pa55word")).await else { return };
    let good = sink.provider(json!({ "username": "kairos" }), json!({ "password": "s3cret-Pa55word" }));
    let h = harness(good).await;
    let run = start(&h, "ann", "ann@example.com").await;
    assert_eq!(dispatch(&h).await, 1);
    assert_eq!(entry(&h, &run).await.status, OutboxStatus::Sent);
    assert_eq!(sink.messages()[0].login.as_deref(), Some("kairos"));

    let wrong = "wr0ng-Pa55word";
    let h = harness(sink.provider(json!({ "username": "kairos" }), json!({ "password": wrong }))).await;
    let run = start(&h, "ann", "ann@example.com").await;
    assert_eq!(dispatch(&h).await, 0);
    let row = entry(&h, &run).await;
    assert_eq!(row.status, OutboxStatus::Failed, "{row:?}");
    let error = row.last_error.clone().unwrap();
    assert!(error.starts_with("smtp server answered 535"), "{error}");
    assert!(!everything_shown(&h, &[&run]).await.contains(wrong));

    // Without signing in, the server refuses the mail (530).
    let h = harness(sink.provider(json!({}), json!({}))).await;
    let run = start(&h, "ann", "ann@example.com").await;
    assert_eq!(dispatch(&h).await, 0);
    let row = entry(&h, &run).await;
    assert_eq!(row.status, OutboxStatus::Failed);
    assert!(row.last_error.as_deref().unwrap().starts_with("smtp server answered 530"), "{row:?}");
    assert_eq!(sink.messages().len(), 1);
}

#[tokio::test]
async fn smtp_starttls_is_required_when_configured() {
    let Some(sink) = Sink::start(None).await else { return };
    let h = harness(sink.provider(json!({ "security": "starttls" }), json!({}))).await;
    let run = start(&h, "ann", "ann@example.com").await;
    assert_eq!(dispatch(&h).await, 0);
    let row = entry(&h, &run).await;
    assert_eq!(row.status, OutboxStatus::Failed);
    let error = row.last_error.unwrap();
    assert!(error.contains("does not offer STARTTLS"), "{error}");
    assert!(sink.messages().is_empty(), "nothing was sent in plain text");
}

#[tokio::test]
async fn smtp_refused_connection_is_retried() {
    // A port nobody listens on; no SMTP server needed.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let settings: smtp::Settings = serde_json::from_value(
        json!({ "host": "127.0.0.1", "port": port, "security": "none", "from": "news@acme.example" }),
    )
    .unwrap();
    let deliverer = Arc::new(smtp::Smtp::new(settings, smtp::Secrets::default(), &options()).unwrap());
    assert!(!deliverer.idempotent());
    let h = harness(deliverer).await;
    let run = start(&h, "ann", "ann@example.com").await;
    assert_eq!(dispatch(&h).await, 0);
    let row = entry(&h, &run).await;
    assert_eq!((row.status, row.attempts), (OutboxStatus::Pending, 1));
    let error = row.last_error.unwrap();
    assert!(error.starts_with(&format!("smtp connection to 127.0.0.1:{port} failed")), "{error}");
}

/// A server that speaks just enough SMTP, then drops the connection: after `RCPT TO`
/// (nothing can have been delivered) or after the data (the message may have been).
async fn dropping_server(drop_after_data: bool) -> u16 {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = tokio::io::BufReader::new(read).lines();
                write.write_all(b"220 test ESMTP\r\n").await.unwrap();
                let mut in_data = false;
                while let Ok(Some(line)) = lines.next_line().await {
                    if in_data {
                        if line == "." {
                            return; // the data is in; hang up without a reply
                        }
                        continue;
                    }
                    let verb = line.split_whitespace().next().unwrap_or_default().to_ascii_uppercase();
                    let reply: &[u8] = match verb.as_str() {
                        "EHLO" => b"250-test\r\n250 8BITMIME\r\n",
                        "RCPT" if !drop_after_data => return, // hang up before the data
                        "DATA" => {
                            in_data = true;
                            b"354 go ahead\r\n"
                        }
                        _ => b"250 ok\r\n",
                    };
                    write.write_all(reply).await.unwrap();
                }
            });
        }
    });
    port
}

#[tokio::test]
async fn smtp_connection_dropped_after_the_data_is_uncertain_and_before_it_is_retried() {
    for (after_data, expected) in
        [(true, "broke after the message was sent; it may have been delivered"), (false, "failed")]
    {
        let port = dropping_server(after_data).await;
        let settings: smtp::Settings = serde_json::from_value(
            json!({ "host": "127.0.0.1", "port": port, "security": "none", "from": "news@acme.example" }),
        )
        .unwrap();
        let h = harness(Arc::new(smtp::Smtp::new(settings, smtp::Secrets::default(), &options()).unwrap())).await;
        let run = start(&h, "ann", "ann@example.com").await;
        assert_eq!(dispatch(&h).await, 0);
        let row = entry(&h, &run).await;
        assert_eq!((row.status, row.attempts), (OutboxStatus::Pending, 1), "retried either way");
        let error = row.last_error.unwrap();
        assert!(error.starts_with(&format!("smtp connection to 127.0.0.1:{port} ")), "{error}");
        assert!(error.contains(expected), "{error}");
    }
}
