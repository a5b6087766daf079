//! libvirt: `src/cpu_map/x86_features.xml`.

use super::{Loc, REGS, Row, number};

/// `name='value'` in an XML tag.
fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let key = format!("{name}='");
    let at = tag.find(&key)? + key.len();
    tag[at..].split('\'').next()
}

pub(super) fn libvirt(texts: &[String]) -> Result<Vec<Row>, String> {
    let mut rows = Vec::new();
    let mut current: Option<(String, Vec<String>, Vec<Loc>)> = None;
    for (n, line) in texts[0].lines().enumerate() {
        let at = format!("x86_features.xml:{}", n + 1);
        let tag = line.trim();
        if tag.starts_with("<feature ") {
            let name = attr(tag, "name").ok_or(format!("{at}: feature without name"))?;
            current = Some((name.to_owned(), Vec::new(), Vec::new()));
        } else if tag.starts_with("</feature>") {
            let (name, aliases, locs) = current.take().ok_or(format!("{at}: stray </feature>"))?;
            let extra = if aliases.is_empty() {
                "-".to_owned()
            } else {
                aliases.join(",")
            };
            for loc in locs {
                rows.push(Row {
                    loc,
                    name: name.clone(),
                    extra: extra.clone(),
                    depends: Vec::new(),
                });
            }
        } else if let Some((_, aliases, locs)) = current.as_mut() {
            if tag.starts_with("<alias ") {
                let name = attr(tag, "name").ok_or(format!("{at}: alias without name"))?;
                let source = attr(tag, "source").unwrap_or("libvirt");
                aliases.push(format!("{name}/{source}"));
            } else if tag.starts_with("<cpuid ") {
                let leaf = attr(tag, "eax_in")
                    .and_then(number)
                    .ok_or(format!("{at}: bad eax_in"))?;
                let subleaf = attr(tag, "ecx_in")
                    .map(|s| number(s).ok_or(format!("{at}: bad ecx_in")))
                    .transpose()?;
                for (reg, r) in REGS.iter().enumerate() {
                    let mask = attr(tag, r)
                        .map_or(Some(0), number)
                        .ok_or(format!("{at}: bad {r}"))?;
                    for bit in (0..32u8).filter(|b| mask >> b & 1 == 1) {
                        locs.push(Loc::Cpuid {
                            leaf,
                            subleaf,
                            reg: reg as u8,
                            bit,
                        });
                    }
                }
            } else if tag.starts_with("<msr ") {
                let index = attr(tag, "index")
                    .and_then(number)
                    .ok_or(format!("{at}: bad index"))?;
                let low = attr(tag, "eax").and_then(number).unwrap_or(0);
                let high = attr(tag, "edx").and_then(number).unwrap_or(0);
                let value = u64::from(high) << 32 | u64::from(low);
                for bit in (0..64u8).filter(|b| value >> b & 1 == 1) {
                    locs.push(Loc::Msr { index, bit });
                }
            }
        }
    }
    Ok(rows)
}
