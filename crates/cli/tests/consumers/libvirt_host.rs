//! Hosts described to libvirt as libvirt itself describes them, and
//! libvirt's own baseline of a pool of them.
//!
//! `virsh cpu-baseline` takes host `<cpu>` elements such as `virsh
//! capabilities` prints: a model every feature of which the host has, plus
//! the host's other features. libvirt trusts the model (a `disable` policy in
//! a host description is ignored), and when every host names the same model
//! it answers with that model. So a host must be described with the model
//! libvirt would decode for it, by libvirt's rules for a host CPU
//! (`x86Decode` and `x86DecodeUseCandidate` of src/cpu/cpu_x86.c, with the
//! cpu_map installed here):
//!
//! * candidates are the cpu_map models in `index.xml` order, newest first,
//!   without `<decode host='off'/>`, of the host's vendor or of none, and
//!   with no feature the host lacks;
//! * a model whose `<signature>` matches the host's family, model and
//!   stepping beats one whose does not;
//! * otherwise the candidate that leaves fewer features to list wins, a tie
//!   keeping the newer;
//! * before all this, `x86DataFilterTSX`: an Intel family 6 model 60, 69, 70
//!   or model 63 below stepping 4 (Haswell with broken TSX) loses HLE and RTM.

use std::collections::BTreeSet;
use std::path::Path;

use maskcalc::consumer::cpu_map::{self, CpuMapFeature};
use maskcalc::model::HostCpuid;

/// A `<signature family= model= stepping=/>` of a model file.
#[derive(Debug, Clone)]
struct Signature {
    family: u32,
    model: u32,
    /// `stepping='0-4'` or `stepping='5'`; none means any.
    steppings: Option<(u32, u32)>,
}

impl Signature {
    fn matches(&self, (family, model, stepping): (u32, u32, u32)) -> bool {
        self.family == family
            && self.model == model
            && self
                .steppings
                .is_none_or(|(low, high)| (low..=high).contains(&stepping))
    }
}

/// One x86 model of the installed cpu_map, its parents folded in.
#[derive(Debug, Clone)]
pub(crate) struct Model {
    pub(crate) name: String,
    /// libvirt's vendor name (`Intel`, `AMD`, `Hygon`), if the model has one.
    pub(crate) vendor: Option<String>,
    pub(crate) features: BTreeSet<String>,
    decode_host: bool,
    signatures: Vec<Signature>,
}

/// The installed cpu_map: features in `x86_features.xml` order, models in
/// `index.xml` order (oldest first).
#[derive(Debug)]
pub(crate) struct CpuMap {
    pub(crate) features: Vec<CpuMapFeature>,
    pub(crate) models: Vec<Model>,
}

/// The value of `key='…'` in one tag's text.
fn attr<'a>(tag: &'a str, key: &str) -> Option<&'a str> {
    let open = format!("{key}='");
    let at = tag.find(&open)? + open.len();
    let end = tag[at..].find('\'')?;
    Some(&tag[at..at + end])
}

/// Every `<element …>` tag of `text`.
fn tags<'a>(text: &'a str, element: &str) -> Vec<&'a str> {
    let open = format!("<{element} ");
    text.match_indices(&open)
        .filter_map(|(at, _)| text[at..].find('>').map(|end| &text[at..at + end]))
        .collect()
}

impl CpuMap {
    pub(crate) fn installed(dir: &Path) -> CpuMap {
        let read = |file: &str| {
            std::fs::read_to_string(dir.join(file))
                .unwrap_or_else(|e| panic!("{}/{file}: {e}", dir.display()))
        };
        let features = cpu_map::parse_features(&read("x86_features.xml")).unwrap();
        let index = read("index.xml");
        let files: Vec<&str> = tags(&index, "include")
            .into_iter()
            .filter_map(|t| attr(t, "filename"))
            .filter(|f| {
                f.starts_with("x86_") && *f != "x86_features.xml" && *f != "x86_vendors.xml"
            })
            .collect();
        let texts: Vec<String> = files.iter().map(|f| read(f)).collect();
        let mut parsed = Vec::new();
        for text in &texts {
            parsed.extend(cpu_map::parse_models(text).unwrap());
        }
        let resolved = cpu_map::resolve(&parsed).unwrap();
        let models = resolved
            .into_iter()
            .map(|m| {
                let text = texts
                    .iter()
                    .find(|t| t.contains(&format!("<model name='{}'>", m.name)))
                    .expect("the model's file");
                let decode = tags(text, "decode");
                let on = |key: &str| {
                    decode
                        .first()
                        .and_then(|t| attr(t, key))
                        .is_none_or(|v| v == "on")
                };
                let signatures = tags(text, "signature")
                    .into_iter()
                    .map(|t| {
                        let number = |key: &str| attr(t, key).map(|v| v.parse::<u32>().unwrap());
                        let steppings = attr(t, "stepping").map(|s| match s.split_once('-') {
                            Some((low, high)) => (low.parse().unwrap(), high.parse().unwrap()),
                            None => (s.parse().unwrap(), s.parse().unwrap()),
                        });
                        Signature {
                            family: number("family").unwrap(),
                            model: number("model").unwrap(),
                            steppings,
                        }
                    })
                    .collect();
                Model {
                    name: m.name,
                    vendor: m.vendor,
                    features: m.features.into_iter().collect(),
                    decode_host: on("host"),
                    signatures,
                }
            })
            .collect();
        CpuMap { features, models }
    }

    pub(crate) fn model(&self, name: &str) -> Option<&Model> {
        self.models.iter().find(|m| m.name == name)
    }
}

/// libvirt's vendor name of a dump's vendor string.
pub(crate) fn vendor(cpuid: &HostCpuid) -> String {
    match cpuid.vendor_string().unwrap_or_default().as_str() {
        "GenuineIntel" => "Intel".to_owned(),
        "AuthenticAMD" => "AMD".to_owned(),
        "HygonGenuine" => "Hygon".to_owned(),
        other => other.to_owned(),
    }
}

/// (family, model, stepping) as libvirt computes them from leaf 1 EAX.
fn signature(cpuid: &HostCpuid) -> (u32, u32, u32) {
    let eax = cpuid.register(1, 0, maskcalc::model::EAX);
    let base_family = (eax >> 8) & 0xf;
    let family = base_family + ((eax >> 20) & 0xff);
    let model = ((eax >> 4) & 0xf) | ((eax >> 12) & 0xf0);
    (family, model, eax & 0xf)
}

/// One host as libvirt sees it: its vendor, and every cpu_map feature the
/// dump shows (after the dump's own quirks are repaired and libvirt's TSX
/// filter is applied).
#[derive(Debug, Clone)]
pub(crate) struct Host {
    pub(crate) vendor: String,
    pub(crate) features: BTreeSet<String>,
    signature: (u32, u32, u32),
}

impl Host {
    pub(crate) fn from_dump(map: &CpuMap, path: &Path) -> Host {
        let bytes = std::fs::read(path).unwrap();
        let mut cpuid = maskcalc::dump::parse(&path.display().to_string(), &bytes, None).unwrap();
        maskcalc::dump::quirks::repair(&mut cpuid);
        let vendor = vendor(&cpuid);
        let signature = signature(&cpuid);
        let mut features = BTreeSet::new();
        for feature in &map.features {
            let Some(location) = feature.location else {
                continue;
            };
            let (register, bit) = location.register();
            if maskcalc::defs::register_value(&cpuid, register)
                .is_some_and(|value| value & (1u32 << bit) != 0)
            {
                features.insert(feature.name.clone());
            }
        }
        let (family, model, stepping) = signature;
        if vendor == "Intel"
            && family == 6
            && ((model == 63 && stepping < 4) || [60, 69, 70].contains(&model))
        {
            features.remove("hle");
            features.remove("rtm");
        }
        Host {
            vendor,
            features,
            signature,
        }
    }

    /// The model libvirt decodes for this host CPU (see the module's rules).
    pub(crate) fn model<'m>(&self, map: &'m CpuMap) -> &'m Model {
        let mut best: Option<(&Model, usize)> = None;
        for candidate in map.models.iter().rev() {
            if !candidate.decode_host
                || candidate.vendor.as_ref().is_some_and(|v| *v != self.vendor)
                || !candidate.features.is_subset(&self.features)
            {
                continue;
            }
            let listed = self.features.difference(&candidate.features).count();
            let Some((current, current_listed)) = best else {
                best = Some((candidate, listed));
                continue;
            };
            let sig = |m: &Model| m.signatures.iter().any(|s| s.matches(self.signature));
            let better = match (sig(current), sig(candidate)) {
                (true, false) => false,
                (false, true) => true,
                _ => listed < current_listed,
            };
            if better {
                best = Some((candidate, listed));
            }
        }
        best.expect("486 has no feature a host lacks").0
    }

    /// This host as a `virsh capabilities` host `<cpu>`: its model and the
    /// features the model does not have.
    pub(crate) fn cpu_xml(&self, map: &CpuMap) -> String {
        let model = self.model(map);
        let mut xml = format!(
            "<cpu>\n  <arch>x86_64</arch>\n  <model>{}</model>\n  <vendor>{}</vendor>\n",
            model.name, self.vendor
        );
        for name in self.features.difference(&model.features) {
            xml.push_str(&format!("  <feature name='{name}'/>\n"));
        }
        xml.push_str("</cpu>\n");
        xml
    }
}

/// A guest `<cpu>` as libvirt or we write it: the model, and the features
/// required and disabled on top of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GuestCpu {
    pub(crate) model: String,
    pub(crate) required: BTreeSet<String>,
    pub(crate) disabled: BTreeSet<String>,
}

impl GuestCpu {
    pub(crate) fn parse(xml: &str) -> Option<GuestCpu> {
        let start = xml.find("<model")?;
        let open = xml[start..].find('>')? + start + 1;
        let close = xml[open..].find("</model>")? + open;
        let (mut required, mut disabled) = (BTreeSet::new(), BTreeSet::new());
        for tag in tags(xml, "feature") {
            let name = attr(tag, "name")?.to_owned();
            match attr(tag, "policy") {
                Some("disable" | "forbid") => disabled.insert(name),
                _ => required.insert(name),
            };
        }
        Some(GuestCpu {
            model: xml[open..close].to_owned(),
            required,
            disabled,
        })
    }

    /// `Model +required -disabled`, counted.
    pub(crate) fn summary(&self) -> String {
        format!(
            "{} +{} -{}",
            self.model,
            self.required.len(),
            self.disabled.len()
        )
    }

    /// The features a guest of this `<cpu>` sees: the model's, plus the
    /// required, less the disabled.
    pub(crate) fn features(&self, map: &CpuMap) -> BTreeSet<String> {
        let model = map.model(&self.model).expect("a cpu_map model");
        model
            .features
            .union(&self.required)
            .filter(|f| !self.disabled.contains(*f))
            .cloned()
            .collect()
    }
}
