//! `xen-maskcalc --format html` in a real browser: headless Chromium renders
//! the page for the pool of every real Intel dump, and the DOM it builds must
//! hold every host and every differing feature with its state; a screenshot
//! must not be blank. The same for `cpu-profile show --format html`. Also the
//! screenshot in `docs/`, and whether it is stale.
//!
//! Chromium is found as `$XENMIG_CHROMIUM`, or `chromium`,
//! `chromium-headless-shell` or `chromium-browser` on `PATH`. Where it is
//! missing, these tests say so on standard error and pass, unless
//! `XENMIG_REQUIRE_CHROMIUM` is set (`.ci/run` sets it, after installing
//! Debian's `chromium`): then a missing browser fails them.
//!
//! `XENMIG_BLESS=1` (what `cargo xtask screenshot` runs) rewrites
//! `docs/images/xen-maskcalc-page.html` and the PNG rendered from it.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use support::{intel_pool, repo_root, scratch, success, with_files};

const EXE: &str = env!("CARGO_BIN_EXE_xen-maskcalc");
const PROFILE_EXE: &str = env!("CARGO_BIN_EXE_cpu-profile");

/// The checked-in screenshot of the page, and the page it was rendered from.
const DOCS_PNG: &str = "docs/images/xen-maskcalc-page.png";
const DOCS_HTML: &str = "docs/images/xen-maskcalc-page.html";
/// The PNG text chunk that records the SHA-256 of the HTML it shows.
const SOURCE_KEY: &str = "xenmig-html-sha256";
/// The window the screenshots are taken in.
const WINDOW: (u32, u32) = (1280, 2000);

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// The browser, or why there is none; panics instead when
/// `XENMIG_REQUIRE_CHROMIUM` is set.
fn chromium() -> Result<PathBuf, String> {
    let found = std::env::var_os("XENMIG_CHROMIUM")
        .map(PathBuf::from)
        .or_else(|| {
            ["chromium", "chromium-headless-shell", "chromium-browser"]
                .into_iter()
                .find_map(on_path)
        });
    found.ok_or_else(|| {
        assert!(
            std::env::var_os("XENMIG_REQUIRE_CHROMIUM").is_none(),
            "XENMIG_REQUIRE_CHROMIUM is set but no chromium was found \
             (install Debian's chromium, or set XENMIG_CHROMIUM)"
        );
        "no chromium on PATH (install Debian's chromium, or set XENMIG_CHROMIUM); \
         .ci/run installs it and sets XENMIG_REQUIRE_CHROMIUM"
            .to_owned()
    })
}

/// The browser, or return from the test after saying on standard error why it is skipped.
macro_rules! browser_or_skip {
    ($test:literal) => {
        match chromium() {
            Ok(browser) => browser,
            Err(why) => {
                eprintln!("{}: SKIPPED: {why}", $test);
                return;
            }
        }
    };
}

/// The DOM headless Chromium makes of `page` (`--dump-dom`).
fn dump_dom(browser: &Path, dir: &Path, page: &Path) -> String {
    let dom_file = dir.join("dom.html");
    run_chromium(browser, dir, "--dump-dom", page, &dom_file);
    std::fs::read_to_string(&dom_file).unwrap()
}

/// Checks that the page's script ran: it marks `<body data-script="ready">`.
fn assert_script_ran(dom: &str) {
    let body = start_tags(dom, "body")
        .into_iter()
        .next()
        .expect("a body")
        .1;
    assert_eq!(body.get("data-script").map(String::as_str), Some("ready"));
}

/// Runs headless Chromium on `page` with `mode` (`--dump-dom` or
/// `--screenshot=FILE`), a fresh profile and nothing that talks to the
/// network; standard output goes to `stdout`. Killed after 120 s.
fn run_chromium(browser: &Path, dir: &Path, mode: &str, page: &Path, stdout: &Path) {
    use std::os::unix::process::CommandExt;
    let profile = dir.join("profile");
    let _ = std::fs::remove_dir_all(&profile);
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--window-size={},{}", WINDOW.0, WINDOW.1))
        .arg(mode)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(stdout).unwrap())
        .stderr(std::fs::File::create(dir.join("chromium.stderr")).unwrap())
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", browser.display()));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > Duration::from_secs(120) {
            // The browser and its helpers share its process group.
            let _ = Command::new("kill")
                .args(["-KILL", &format!("-{}", child.id())])
                .status();
            let _ = child.wait();
            panic!("chromium {mode} did not finish within 120 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stderr = std::fs::read_to_string(dir.join("chromium.stderr")).unwrap_or_default();
    assert!(status.success(), "chromium {mode}: {status}\n{stderr}");
}

/// The attributes of a start tag, from just after its name to its `>`,
/// with character references in values decoded.
fn attributes(tag: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = tag;
    while let Some(eq) = rest.find("=\"") {
        let name = rest[..eq]
            .trim()
            .rsplit(' ')
            .next()
            .unwrap_or("")
            .to_owned();
        let after = &rest[eq + 2..];
        let end = after.find('"').expect("attribute value ends");
        let value = after[..end]
            .replace("&quot;", "\"")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&#39;", "'")
            .replace("&amp;", "&");
        out.insert(name, value);
        rest = &after[end + 1..];
    }
    out
}

/// Every `<name …>` start tag in `html`, as (offset, attributes).
fn start_tags(html: &str, name: &str) -> Vec<(usize, BTreeMap<String, String>)> {
    let open = format!("<{name} ");
    html.match_indices(&open)
        .map(|(at, _)| {
            let end = html[at..].find('>').map_or(html.len(), |e| at + e);
            (at, attributes(&html[at + open.len()..end]))
        })
        .collect()
}

/// What the tool itself says about the pool: per differing location, the
/// feature name and which hosts have it; per masked location, the action.
struct Expected {
    hosts: Vec<String>,
    differing: Vec<(String, String, Vec<String>)>,
    masked: BTreeMap<String, String>,
}

fn expected(pool: &[String]) -> Expected {
    let diff: serde_json::Value =
        serde_json::from_str(&success(EXE, &with_files(&["--diff", "--json"], pool))).unwrap();
    let masks: serde_json::Value =
        serde_json::from_str(&success(EXE, &with_files(&["--json"], pool))).unwrap();
    let strings = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_owned())
            .collect()
    };
    Expected {
        hosts: strings(&diff["hosts"]),
        differing: diff["differences"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                (
                    d["location"].as_str().unwrap().to_owned(),
                    d["feature"].as_str().unwrap_or("").to_owned(),
                    strings(&d["having"]),
                )
            })
            .collect(),
        masked: masks["features"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                let action = match f["action"].as_str().unwrap() {
                    "clear" => "cleared",
                    _ => "forced",
                };
                (
                    f["location"].as_str().unwrap().to_owned(),
                    action.to_owned(),
                )
            })
            .collect(),
    }
}

/// The pixels of a PNG's first frame, and what they are.
fn decode_png(path: &Path) -> (Vec<u8>, png::OutputInfo) {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut reader = png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    buf.truncate(info.buffer_size());
    (buf, info)
}

/// Distinct colours and the share of pixels that are not white, of a PNG.
fn png_summary(path: &Path) -> (usize, f64, (u32, u32)) {
    let (buf, info) = decode_png(path);
    let channels = info.color_type.samples();
    assert_eq!(info.bit_depth, png::BitDepth::Eight, "{}", path.display());
    let pixels = &buf[..];
    let mut colours = std::collections::HashSet::new();
    let mut ink = 0usize;
    let total = pixels.len() / channels;
    for px in pixels.chunks(channels) {
        let rgb = (
            px[0],
            *px.get(1).unwrap_or(&px[0]),
            *px.get(2).unwrap_or(&px[0]),
        );
        if rgb != (255, 255, 255) {
            ink += 1;
        }
        colours.insert(rgb);
    }
    (
        colours.len(),
        ink as f64 / total as f64,
        (info.width, info.height),
    )
}

fn assert_not_blank(path: &Path) {
    let (colours, ink, size) = png_summary(path);
    assert_eq!(size, WINDOW, "{}", path.display());
    // Text in grey and black on white, blue and orange cells, pink masks,
    // antialiasing: hundreds of colours. A blank page has one.
    assert!(colours > 32, "{}: only {colours} colours", path.display());
    assert!(
        ink > 0.05,
        "{}: only {:.1}% not white",
        path.display(),
        ink * 100.0
    );
}

#[test]
fn the_page_renders_every_host_and_difference_in_chromium() {
    let browser = browser_or_skip!("the_page_renders_every_host_and_difference_in_chromium");
    let pool = intel_pool();
    let dir = scratch("browser-pool");
    let page = dir.join("pool.html");
    std::fs::write(
        &page,
        success(EXE, &with_files(&["--format", "html"], &pool)),
    )
    .unwrap();
    let dom = dump_dom(&browser, &dir, &page);
    let expected = expected(&pool);

    // The script ran (the policy allowed it by its hash) and added its controls.
    assert_script_ran(&dom);
    assert!(dom.contains("id=\"matrix-filter\""));
    assert!(dom.contains("class=\"copy\""));

    // Every host: in the hosts table, in the costs table, as a matrix column.
    let section = |id: &str| {
        let start = dom
            .find(&format!("id=\"{id}\""))
            .unwrap_or_else(|| panic!("no #{id}"));
        let end = dom[start..].find("</table>").unwrap() + start;
        &dom[start..end]
    };
    for id in ["hosts-table", "costs-table"] {
        let names: Vec<String> = start_tags(section(id), "tr")
            .into_iter()
            .filter_map(|(_, a)| a.get("data-host-name").cloned())
            .collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(sorted, expected.hosts, "#{id}");
    }
    let matrix = section("matrix-table");
    let columns: BTreeMap<String, String> = start_tags(matrix, "th")
        .into_iter()
        .filter_map(|(_, a)| {
            Some((
                a.get("data-host")?.clone(),
                a.get("data-host-name")?.clone(),
            ))
        })
        .collect();
    assert_eq!(columns.len(), expected.hosts.len());
    for (i, name) in expected.hosts.iter().enumerate() {
        assert_eq!(columns.get(&i.to_string()), Some(name));
    }

    // Every differing feature: one row, its name, the mask's decision, and a
    // cell per host with its state.
    let rows: Vec<(usize, BTreeMap<String, String>)> = start_tags(matrix, "tr")
        .into_iter()
        .filter(|(_, a)| a.contains_key("data-location"))
        .collect();
    assert_eq!(rows.len(), expected.differing.len());
    for (location, feature, having) in &expected.differing {
        let (at, row) = rows
            .iter()
            .find(|(_, a)| a.get("data-location") == Some(location))
            .unwrap_or_else(|| panic!("no row for {location}"));
        assert_eq!(row.get("data-feature"), Some(feature), "{location}");
        let mask = row.get("data-mask").unwrap();
        match expected.masked.get(location) {
            Some(action) => assert_eq!(mask, action, "{location}"),
            // A bit of a multi-bit field (no feature) is a number's digit:
            // the pool never masks it.
            None if feature.is_empty() => assert_eq!(mask, "none", "{location}"),
            None => assert!(mask == "host" || mask == "kept", "{location}: {mask}"),
        }
        let end = matrix[*at..].find("</tr>").unwrap() + at;
        let cells: Vec<BTreeMap<String, String>> = start_tags(&matrix[*at..end], "td")
            .into_iter()
            .map(|(_, a)| a)
            .filter(|a| a.contains_key("data-host"))
            .collect();
        assert_eq!(cells.len(), expected.hosts.len(), "{location}");
        for (i, host) in expected.hosts.iter().enumerate() {
            let state = if having.contains(host) { "yes" } else { "no" };
            assert_eq!(
                cells[i].get("data-state").map(String::as_str),
                Some(state),
                "{location} on {host}"
            );
            assert_eq!(cells[i].get("data-host"), Some(&i.to_string()));
        }
    }

    // Readable without JavaScript: the page with its script taken out has the
    // same rows, states and hosts, only not the script's controls. (Chromium's
    // --dump-dom prints nothing when scripting is switched off, so the script
    // is removed from the page instead.)
    let html = std::fs::read_to_string(&page).unwrap();
    let script = html.find("<script>").unwrap();
    let script_end = html[script..].find("</script>").unwrap() + script + "</script>".len();
    let static_page = dir.join("pool-no-script.html");
    std::fs::write(
        &static_page,
        format!("{}{}", &html[..script], &html[script_end..]),
    )
    .unwrap();
    let static_file = dir.join("dom-no-script.html");
    run_chromium(&browser, &dir, "--dump-dom", &static_page, &static_file);
    let without = std::fs::read_to_string(&static_file).unwrap();
    assert!(without.contains("<body>"), "the script ran");
    assert!(!without.contains("id=\"matrix-filter\""));
    let states = |dom: &str| -> Vec<(String, String)> {
        start_tags(dom, "td")
            .into_iter()
            .filter_map(|(_, a)| Some((a.get("data-host")?.clone(), a.get("data-state")?.clone())))
            .collect()
    };
    assert_eq!(states(&without), states(&dom));
    assert_eq!(
        states(&dom).len(),
        expected.differing.len() * expected.hosts.len()
    );

    let png = dir.join("pool.png");
    run_chromium(
        &browser,
        &dir,
        &format!("--screenshot={}", png.display()),
        &page,
        &dir.join("screenshot.stdout"),
    );
    assert_not_blank(&png);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn hostile_names_stay_text_in_chromium() {
    let browser = browser_or_skip!("hostile_names_stay_text_in_chromium");
    let dir = scratch("browser-hostile");
    let haswell = repo_root().join("testdata/cpuid/intel-haswell-ep-xeon-e5-2699-v3.txt");
    let evil = dir.join("<img src=x onerror=alert(1)><script>alert(2)<b>\"'&.txt");
    std::fs::copy(&haswell, &evil).unwrap();
    let skylake = repo_root().join("testdata/cpuid/intel-skylake-sp-xeon-platinum-8180.txt");
    let page = dir.join("hostile.html");
    let html = success(
        EXE,
        &[
            "--format",
            "html",
            evil.to_str().unwrap(),
            skylake.to_str().unwrap(),
        ],
    );
    std::fs::write(&page, html).unwrap();
    let dom = dump_dom(&browser, &dir, &page);
    assert_eq!(dom.matches("<script").count(), 1, "only the page's script");
    assert_eq!(dom.matches("<img").count(), 0);
    assert_eq!(dom.matches("<b>").count(), 0);
    let name = evil.display().to_string();
    let rows: Vec<String> = start_tags(&dom, "tr")
        .into_iter()
        .filter_map(|(_, a)| a.get("data-host-name").cloned())
        .collect();
    assert!(rows.contains(&name), "{rows:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_profile_page_renders_in_chromium() {
    let browser = browser_or_skip!("the_profile_page_renders_in_chromium");
    let dir = scratch("browser-profile");
    let profile = dir.join("pool.json");
    let mut generate = vec!["generate", "-o", profile.to_str().unwrap()];
    let pool = intel_pool();
    generate.extend(pool.iter().map(String::as_str));
    success(PROFILE_EXE, &generate);
    let page = dir.join("profile.html");
    let html = success(
        PROFILE_EXE,
        &["show", "--format", "html", profile.to_str().unwrap()],
    );
    std::fs::write(&page, &html).unwrap();
    let dom = dump_dom(&browser, &dir, &page);
    assert_script_ran(&dom);
    // Every defined bit the tool wrote is in the browser's DOM, in the same state.
    let states = |text: &str| -> Vec<(String, String)> {
        start_tags(text, "tr")
            .into_iter()
            .filter_map(|(_, a)| {
                Some((
                    a.get("data-location")?.clone(),
                    a.get("data-state")?.clone(),
                ))
            })
            .collect()
    };
    let written = states(&html);
    assert!(written.len() > 100, "{}", written.len());
    assert_eq!(states(&dom), written);
    let _ = std::fs::remove_dir_all(&dir);
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The value of a PNG text chunk.
fn png_text(path: &Path, key: &str) -> Option<String> {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).ok()?));
    let reader = decoder.read_info().ok()?;
    reader
        .info()
        .uncompressed_latin1_text
        .iter()
        .find(|t| t.keyword == key)
        .map(|t| t.text.clone())
}

/// Copies Chromium's PNG to `dest` with a text chunk recording `sha256`.
fn write_png_with_source(from: &Path, dest: &Path, sha256: &str) {
    let (buf, info) = decode_png(from);
    let file = std::fs::File::create(dest).unwrap();
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), info.width, info.height);
    encoder.set_color(info.color_type);
    encoder.set_depth(info.bit_depth);
    encoder.set_compression(png::Compression::Best);
    encoder
        .add_text_chunk(SOURCE_KEY.to_owned(), sha256.to_owned())
        .unwrap();
    let mut writer = encoder.write_header().unwrap();
    writer.write_image_data(&buf).unwrap();
    writer.finish().unwrap();
}

/// The docs screenshot is current when the page it was rendered from,
/// checked in beside it, is what the tool writes today for the same pool,
/// and the PNG records that page's SHA-256. A PNG is not compared pixel by
/// pixel: another Chromium or font renders the same page differently.
#[test]
fn docs_screenshot_is_current() {
    let pool = intel_pool();
    // The newest consumer releases, whatever this machine has installed.
    let flags = [&["--format", "html"][..], &support::NEWEST_CONSUMERS].concat();
    let html = success(EXE, &with_files(&flags, &pool));
    let root = repo_root();
    if std::env::var_os("XENMIG_BLESS").is_some() {
        let browser = browser_or_skip!("docs_screenshot_is_current (bless)");
        let dir = scratch("browser-docs");
        std::fs::create_dir_all(root.join("docs/images")).unwrap();
        std::fs::write(root.join(DOCS_HTML), &html).unwrap();
        let shot = dir.join("page.png");
        run_chromium(
            &browser,
            &dir,
            &format!("--screenshot={}", shot.display()),
            &root.join(DOCS_HTML),
            &dir.join("screenshot.stdout"),
        );
        assert_not_blank(&shot);
        write_png_with_source(&shot, &root.join(DOCS_PNG), &sha256_hex(html.as_bytes()));
        let _ = std::fs::remove_dir_all(&dir);
    }
    let checked_in = std::fs::read_to_string(root.join(DOCS_HTML)).unwrap_or_default();
    assert!(
        checked_in == html,
        "{DOCS_HTML} is not what `xen-maskcalc --format html --xen-version 4.22 --qemu-version 10.2 \
         --libvirt-version 12.8 testdata/cpuid/intel-*.txt` writes today: run `cargo xtask screenshot`"
    );
    assert_eq!(
        png_text(&root.join(DOCS_PNG), SOURCE_KEY).as_deref(),
        Some(sha256_hex(checked_in.as_bytes()).as_str()),
        "{DOCS_PNG} was not rendered from {DOCS_HTML}: run `cargo xtask screenshot`"
    );
    assert_not_blank(&root.join(DOCS_PNG));
}
