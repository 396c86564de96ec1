//! The editor (`editor-web/dist`, built by Vite) is embedded into the binary with
//! rust-embed, which needs the folder when compiling. When the editor has not been built,
//! this writes an `index.html` that says so (and how to build it), so the server still
//! compiles and answers `/` with an honest page instead of failing.

use std::path::Path;
use std::time::{Duration, SystemTime};

const NOT_BUILT: &str = r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Kairos: the editor is not built</title>
<meta name="kairos-editor" content="not-built"></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 4rem auto; line-height: 1.5">
<h1>The Kairos editor was not built</h1>
<p>This server was compiled without the browser editor. Build it, then build Kairos again:</p>
<pre>cd editor-web
npm ci &amp;&amp; npm run build
cd .. &amp;&amp; cargo build --release -p kairos</pre>
<p><code>scripts/run</code> does all of this. The REST API works without the editor:
see <a href="/docs">/docs</a>.</p>
</body>
</html>
"#;

fn main() {
    let dist = Path::new(env!("CARGO_MANIFEST_DIR")).join("../editor-web/dist");
    let index = dist.join("index.html");
    if !index.exists() {
        println!(
            "cargo:warning=editor-web/dist is missing: the editor is not built, `/` will say so. Run `npm ci && npm run build` in editor-web (scripts/run does)."
        );
        if let Err(e) = write_placeholder(&dist, &index) {
            println!("cargo:warning=cannot write {}: {e}", index.display());
        }
    }
    // Rebuild when the editor is (re)built: cargo scans the folder for newer files.
    println!("cargo:rerun-if-changed={}", dist.display());
    println!("cargo:rerun-if-changed=build.rs");
}

/// Write the page, dated in the past: a file this script writes with a fresh time would
/// look changed to cargo and make every build run the script again.
fn write_placeholder(dist: &Path, index: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dist)?;
    std::fs::write(index, NOT_BUILT)?;
    let past = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    std::fs::File::options().write(true).open(index)?.set_modified(past)?;
    std::fs::File::open(dist)?.set_modified(past)
}
