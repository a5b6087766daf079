//! `xen-maskcalc --plan` (text and JSON, golden files), `--format html` and
//! `cpu-profile show --format html` (content and escaping; the real-browser
//! tests are in `xen_maskcalc_browser.rs`).

mod support;

use maskcalc::dump::{self, write};
use maskcalc::model::CpuidInput;
use support::{assert_golden, clean_success, failure, intel_pool, scratch, success, with_files};

const EXE: &str = env!("CARGO_BIN_EXE_xen-maskcalc");
const HASWELL: &str = "testdata/cpuid/intel-haswell-ep-xeon-e5-2699-v3.txt";
const SKYLAKE: &str = "testdata/cpuid/intel-skylake-sp-xeon-platinum-8180.txt";
const ICELAKE: &str = "testdata/cpuid/intel-icelake-sp-xeon-gold-6330.txt";
const MILAN: &str = "testdata/cpuid/amd-milan-epyc-7763.txt";
const GENOA: &str = "testdata/cpuid/amd-genoa-epyc-9654.txt";

#[test]
fn plan_of_every_intel_dump_text_and_json() {
    let pool = intel_pool();
    assert_eq!(pool.len(), 10);
    let text = clean_success(EXE, &with_files(&["--plan"], &pool));
    assert_golden("xen-maskcalc/intel-all.plan.txt", &text);
    let json = clean_success(EXE, &with_files(&["--plan", "--json"], &pool));
    assert_golden("xen-maskcalc/intel-all.plan.json", &json);

    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(doc["format"], "xenmig-pool-plan");
    let costs = doc["costs"]["list"].as_array().unwrap();
    assert_eq!(costs.len(), 10);
    // Ivy Bridge alone lacks AVX2, FMA, BMI1/2, MOVBE...: the most expensive host.
    assert!(costs[0]["host"].as_str().unwrap().contains("ivybridge"));
    let gains: Vec<&str> = costs[0]["gains"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    for name in ["AVX2", "FMA", "BMI1", "BMI2", "MOVBE"] {
        assert!(gains.contains(&name), "{name} not in {gains:?}");
    }
    assert_eq!(costs[0]["cost"], gains.len());
    // Every host is in exactly one tier.
    let mut tiered: Vec<&str> = doc["tiers"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["hosts"].as_array().unwrap().iter())
        .map(|h| h.as_str().unwrap())
        .collect();
    tiered.sort_unstable();
    assert_eq!(tiered, pool.iter().map(String::as_str).collect::<Vec<_>>());
}

#[test]
fn plan_of_three_generations_and_of_amd() {
    assert_golden(
        "xen-maskcalc/intel-pool.plan.txt",
        &clean_success(EXE, &["--plan", HASWELL, SKYLAKE, ICELAKE]),
    );
    assert_golden(
        "xen-maskcalc/amd-pool.plan.json",
        &clean_success(EXE, &["--plan", "--json", MILAN, GENOA]),
    );
}

#[test]
fn plan_ignores_the_order_of_the_dumps() {
    let pool = intel_pool();
    let mut reversed = pool.clone();
    reversed.reverse();
    reversed.rotate_left(3);
    for flags in [&["--plan"][..], &["--plan", "--json"][..]] {
        assert_eq!(
            success(EXE, &with_files(flags, &pool)),
            success(EXE, &with_files(flags, &reversed))
        );
    }
}

#[test]
fn tier_threshold_changes_the_tiers_and_is_checked() {
    let pool = intel_pool();
    let tiers = |threshold: &str| {
        let json = success(
            EXE,
            &with_files(&["--plan", "--json", "--tier-threshold", threshold], &pool),
        );
        let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(doc["tiers"]["threshold"], threshold.parse::<u64>().unwrap());
        doc["tiers"]["list"].as_array().unwrap().len()
    };
    // One tier per distinct CPU at 1; fewer, coarser tiers as the threshold grows.
    assert_eq!(
        tiers("1"),
        9,
        "emerald and sapphire rapids differ in no visible feature"
    );
    assert!(tiers("8") < tiers("1"));
    assert_eq!(tiers("1000"), 1);
    let err = failure(
        EXE,
        &with_files(&["--plan", "--tier-threshold", "0"], &pool),
        2,
    );
    assert!(err.contains("--tier-threshold"), "{err}");
}

#[test]
fn plan_refuses_what_the_mask_refuses() {
    let err = failure(EXE, &["--plan", HASWELL, MILAN], 1);
    assert!(err.contains("different CPU vendors"), "{err}");
    let err = failure(EXE, &["--plan", HASWELL], 1);
    assert!(err.contains("Need at least 2 files"), "{err}");
    let err = failure(
        EXE,
        &["--plan", "--hide", "avx", "--keep", "avx", HASWELL, SKYLAKE],
        2,
    );
    assert!(err.contains("both hidden and kept"), "{err}");
    for other in [
        &["--diff"][..],
        &["--format", "html"][..],
        &["--format", "xl"][..],
    ] {
        let mut args = vec!["--plan"];
        args.extend(other);
        args.extend([HASWELL, SKYLAKE]);
        let err = failure(EXE, &args, 2);
        assert!(err.contains("cannot be used with"), "{err}");
    }
}

/// Counts the non-overlapping occurrences of `needle`.
fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

#[test]
fn html_page_has_every_part() {
    let pool = intel_pool();
    let html = clean_success(EXE, &with_files(&["--format", "html"], &pool));
    assert!(html.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"));
    assert!(html.ends_with("</html>\n"));
    // Self-contained: nothing to fetch, and a policy that forbids fetching.
    assert!(
        html.contains("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none';")
    );
    for forbidden in ["http://", "https://", " src=", "<link", "@import", "url("] {
        assert!(!html.contains(forbidden), "{forbidden}");
    }
    assert_eq!(count(&html, "<script>"), 1);
    // Every host, in the summary and the matrix.
    for host in &pool {
        let attr = format!("data-host-name=\"{host}\"");
        assert!(count(&html, &attr) >= 3, "{host}");
    }
    // The baseline in every output format, through the renderers.
    let xl = success(EXE, &with_files(&["--format", "xl"], &pool));
    assert!(html.contains(&format!(
        "<pre class=\"copy\" data-format=\"xl\">{}</pre>",
        xl
    )));
    for format in ["xl", "xend", "libvirt", "qemu", "firecracker", "json"] {
        assert!(
            html.contains(&format!("data-format=\"{format}\"")),
            "{format}"
        );
    }
    // Every differing bit is a matrix row, every masked bit a row of the masked table.
    let diff: serde_json::Value =
        serde_json::from_str(&success(EXE, &with_files(&["--diff", "--json"], &pool))).unwrap();
    let differences = diff["differences"].as_array().unwrap();
    for d in differences {
        let attr = format!("data-location=\"{}\"", d["location"].as_str().unwrap());
        assert!(html.contains(&attr), "{attr}");
    }
    assert_eq!(
        count(&html, "<td class=\"y\" data-host=") + count(&html, "<td class=\"n\" data-host="),
        differences.len() * pool.len()
    );
    let masks: serde_json::Value =
        serde_json::from_str(&success(EXE, &with_files(&["--json"], &pool))).unwrap();
    let masked = masks["features"].as_array().unwrap().len();
    let rows = html.split("id=\"masked-table\"").nth(1).unwrap();
    let rows = rows.split("</table>").next().unwrap();
    assert_eq!(count(rows, "<tr data-feature="), masked);
    // The plan's sections.
    for id in [
        "summary",
        "plan",
        "matrix",
        "masked",
        "costs-table",
        "tier-1",
    ] {
        assert!(html.contains(&format!("id=\"{id}\"")), "{id}");
    }
}

#[test]
fn html_escapes_file_names_and_dump_contents() {
    let dir = scratch("html-hostile");
    let bytes = std::fs::read(support::repo_root().join(HASWELL)).unwrap();
    let mut cpuid = dump::parse(HASWELL, &bytes, None).unwrap();
    // A brand string and a vendor string that are markup.
    let brand = b"<img src=x onerror=alert(1)>&amp;\"'</td>";
    let mut padded = [0u8; 48];
    padded[..brand.len()].copy_from_slice(brand);
    for (i, leaf) in (0x8000_0002u32..=0x8000_0004).enumerate() {
        let regs: Vec<u32> = padded[i * 16..i * 16 + 16]
            .chunks(4)
            .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        cpuid.leaves.insert(
            CpuidInput::new(leaf, 0),
            [regs[0], regs[1], regs[2], regs[3]],
        );
    }
    let vendor = *b"<i>&\"'</i>x!";
    let word = |i: usize| u32::from_le_bytes(vendor[i..i + 4].try_into().unwrap());
    let leaf0 = cpuid.leaves.get_mut(&CpuidInput::new(0, 0)).unwrap();
    (leaf0[1], leaf0[3], leaf0[2]) = (word(0), word(4), word(8));
    let mut other = cpuid.clone();
    other.leaves.get_mut(&CpuidInput::new(7, 0)).unwrap()[1] &= !(1 << 5);
    let evil = dir.join("<script>alert('x')<b>&\"a\".txt");
    let plain = dir.join("plain.txt");
    std::fs::write(&evil, write::cpuid_tool(&cpuid)).unwrap();
    std::fs::write(&plain, write::cpuid_tool(&other)).unwrap();
    let html = clean_success(
        EXE,
        &[
            "--format",
            "html",
            evil.to_str().unwrap(),
            plain.to_str().unwrap(),
        ],
    );
    assert_eq!(count(&html, "<script"), 1, "only the page's own script");
    for raw in ["<img", "<i>", "<b>", "</td>\"", "<script>alert"] {
        assert!(!html.contains(raw), "{raw} unescaped");
    }
    assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;b&gt;&amp;&quot;a&quot;.txt"));
    assert!(html.contains("&lt;img src=x onerror=alert(1)&gt;&amp;amp;&quot;&#39;&lt;/td&gt;"));
    assert!(html.contains("&lt;i&gt;&amp;&quot;&#39;&lt;/i&gt;x!"));
    let _ = std::fs::remove_dir_all(&dir);
}

const PROFILE_EXE: &str = env!("CARGO_BIN_EXE_cpu-profile");

#[test]
fn profile_page_shows_every_defined_bit_and_escapes_the_name() {
    let dir = scratch("profile-html");
    let path = dir.join("pool.json");
    let path = path.to_str().unwrap();
    clean_success(
        PROFILE_EXE,
        &[
            "generate",
            "--name",
            "<b onclick=\"x\">pool</b> & 'co'",
            "-o",
            path,
            HASWELL,
            SKYLAKE,
            ICELAKE,
        ],
    );
    // The same Xen release for the page and the export, whatever this machine has.
    let html = clean_success(
        PROFILE_EXE,
        &["show", "--format", "html", "--xen-version", "4.22", path],
    );
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert_eq!(count(&html, "<script"), 1);
    assert!(!html.contains("<b onclick"));
    assert!(html.contains("&lt;b onclick=&quot;x&quot;&gt;pool&lt;/b&gt; &amp; &#39;co&#39;"));
    let profile = cpu_profile::json::from_json(path, &std::fs::read(path).unwrap()).unwrap();
    let mut rows = 0;
    for (&register, bits) in &profile.registers {
        let fields = cpu_profile::rules::checked_fields()
            .filter(|f| {
                register
                    == cpuid_defs::FeatureRegister::Cpuid {
                        key: f.field.key,
                        register: f.field.register,
                    }
            })
            .fold(0, |m, f| m | f.field.mask());
        for bit in (0..32u8).filter(|b| bits.mask & !fields & (1 << b) != 0) {
            let location = maskcalc::pool::location_of(register, bit);
            let name = cpuid_defs::at(location).map_or("", |f| f.name);
            let state = if bits.value & (1 << bit) != 0 {
                "on"
            } else {
                "off"
            };
            let row = format!(
                "<tr data-feature=\"{name}\" data-location=\"{}\" data-state=\"{state}\">",
                location
            );
            assert!(html.contains(&row), "{row}");
            rows += 1;
        }
    }
    assert_eq!(
        count(&html, "data-state=\"on\">") + count(&html, "data-state=\"off\">"),
        rows
    );
    // Every export format, through the exporters.
    let xl = clean_success(
        PROFILE_EXE,
        &["export", "--format", "xl", "--xen-version", "4.22", path],
    );
    assert!(html.contains(&format!(
        "<pre class=\"copy\" data-format=\"xl\">{xl}</pre>"
    )));
    for format in [
        "xend",
        "libvirt",
        "qemu",
        "firecracker",
        "cloud-hypervisor",
        "profile",
    ] {
        assert!(
            html.contains(&format!("data-format=\"{format}\"")),
            "{format}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
