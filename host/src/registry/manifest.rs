//! The mini-app manifest (TOML): what an app is, which contract it needs,
//! what it asks for and its limits. Parsing refuses unknown fields and bad
//! values, naming the file, the field and the reason; publishing also
//! refuses the placeholder texts `citadel app new` leaves to fill in.

use crate::capabilities;
use crate::runtime::limits::{Limits, LimitsSpec};
use semver::{Version, VersionReq};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A manifest that parsed and validated.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The app's slug: lower-case letters, digits and `-`, 2–40 characters.
    pub id: String,
    /// Display names.
    pub name: Localized,
    /// Who publishes it.
    pub publisher: String,
    /// This version (semver).
    pub version: Version,
    /// The contract versions the component works with, e.g. `^1.0`.
    pub contract: VersionReq,
    /// The component file, relative to the manifest.
    pub component: String,
    /// What the app asks the city for.
    #[serde(default)]
    pub capabilities: Vec<String>,
    /// Why the app needs each personal scope it requests (`identity.*`),
    /// shown to the citizen when their consent is asked.
    #[serde(default)]
    pub purposes: BTreeMap<String, Localized>,
    /// Per-request limits; defaults apply where absent.
    #[serde(default)]
    pub limits: LimitsSpec,
    /// What the app is for.
    pub description: Localized,
    /// Catalogue category.
    pub category: String,
    /// An emoji or a short icon name.
    #[serde(default)]
    pub icon: String,
    /// The app's route told about its payments (POST, JSON), e.g. `/payments/hook`.
    #[serde(default)]
    pub payment_hook: Option<String>,
}

pub use crate::localized::Localized;

/// Why a manifest was refused.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("{file}: {message}")]
    Syntax { file: String, message: String },
    #[error("{file}: field `{field}`: {reason}")]
    Invalid {
        file: String,
        field: &'static str,
        reason: String,
    },
}

/// A manifest that parsed, refused for publishing: names or descriptions
/// citizens would see still hold the template's placeholder text.
#[derive(Debug, thiserror::Error)]
#[error(
    "{file}: {keys} still hold the placeholder text `citadel app new` wrote, which citizens \
     would see: write the app's Vietnamese and English name and description there"
)]
pub struct PlaceholderText {
    file: String,
    /// The keys, each in backquotes, separated by commas.
    keys: String,
}

/// How the text `citadel app new` leaves for the partner to replace begins
/// (the name and description, unless given as flags). A manifest still
/// holding it is neither packaged nor accepted.
pub const PLACEHOLDER: &str = "«TODO";

/// The catalogue's categories: the id a manifest names, and what the shell
/// shows citizens for it (Vietnamese, English).
const CATEGORIES: &[(&str, &str, &str)] = &[
    ("public-services", "Dịch vụ công", "Public services"),
    ("field-reports", "Phản ánh hiện trường", "Field reports"),
    ("maps", "Bản đồ", "Maps"),
    ("tourism", "Du lịch", "Tourism"),
    ("payments", "Thanh toán", "Payments"),
    ("health", "Y tế", "Health"),
    ("education", "Giáo dục", "Education"),
    ("transport", "Giao thông", "Transport"),
    ("utilities", "Tiện ích", "Utilities"),
    (
        DEVELOPER_CATEGORY,
        "Dành cho nhà phát triển",
        "For developers",
    ),
];

/// Developers' samples and tools: reachable at their address and listed
/// for the operator, but not in the citizens' catalogue.
pub const DEVELOPER_CATEGORY: &str = "developer";

/// The name citizens see for category `id`; `None` for an unknown one.
pub fn category_name(id: &str) -> Option<Localized> {
    CATEGORIES
        .iter()
        .find(|(known, _, _)| *known == id)
        .map(|(_, vi, en)| Localized {
            vi: vi.to_string(),
            en: en.to_string(),
        })
}

impl Manifest {
    /// Parse and validate `text`, read from `file` (used in error messages).
    pub fn parse(file: &str, text: &str) -> Result<Manifest, ManifestError> {
        let manifest: Manifest = toml::from_str(text).map_err(|e| ManifestError::Syntax {
            file: file.to_string(),
            message: e.to_string().trim_end().to_string(),
        })?;
        manifest.validate(file)?;
        Ok(manifest)
    }

    /// Refused while a name or description citizens see still holds the
    /// template's placeholder text ([`PLACEHOLDER`]), naming each such key.
    pub fn check_publishable(&self, file: &str) -> Result<(), PlaceholderText> {
        let placeholders: Vec<&str> = [
            ("name.vi", &self.name.vi),
            ("name.en", &self.name.en),
            ("description.vi", &self.description.vi),
            ("description.en", &self.description.en),
        ]
        .into_iter()
        .filter(|(_, text)| text.contains(PLACEHOLDER))
        .map(|(key, _)| key)
        .collect();
        if placeholders.is_empty() {
            return Ok(());
        }
        Err(PlaceholderText {
            file: file.to_string(),
            keys: placeholders
                .iter()
                .map(|key| format!("`{key}`"))
                .collect::<Vec<_>>()
                .join(", "),
        })
    }

    /// The effective limits (defaults filled in).
    pub fn limits(&self) -> Limits {
        self.limits.resolve()
    }

    fn validate(&self, file: &str) -> Result<(), ManifestError> {
        let invalid = |field: &'static str, reason: String| ManifestError::Invalid {
            file: file.to_string(),
            field,
            reason,
        };
        if !is_slug(&self.id) {
            return Err(invalid(
                "id",
                format!(
                    "`{}` is not a valid app id: use 2 to 40 lower-case letters, digits and `-`, starting with a letter",
                    self.id
                ),
            ));
        }
        if !is_slug(&self.publisher) {
            return Err(invalid(
                "publisher",
                format!(
                    "`{}` is not a valid publisher id (same form as an app id)",
                    self.publisher
                ),
            ));
        }
        for (field, text) in [("name.vi", &self.name.vi), ("name.en", &self.name.en)] {
            if text.trim().is_empty() || text.chars().count() > 60 {
                return Err(invalid(
                    "name",
                    format!("{field} must be 1 to 60 characters"),
                ));
            }
        }
        for (field, text) in [
            ("description.vi", &self.description.vi),
            ("description.en", &self.description.en),
        ] {
            if text.trim().is_empty() || text.chars().count() > 2000 {
                return Err(invalid(
                    "description",
                    format!("{field} must be 1 to 2000 characters"),
                ));
            }
        }
        if category_name(&self.category).is_none() {
            let known: Vec<&str> = CATEGORIES.iter().map(|(id, _, _)| *id).collect();
            return Err(invalid(
                "category",
                format!(
                    "`{}` is not a category; use one of: {}",
                    self.category,
                    known.join(", ")
                ),
            ));
        }
        if self.icon.chars().count() > 40 {
            return Err(invalid("icon", "must be at most 40 characters".into()));
        }
        if let Some(hook) = &self.payment_hook {
            if !hook.starts_with('/')
                || hook.starts_with("//")
                || hook.len() > 200
                || hook.contains(['?', '#', ' '])
            {
                return Err(invalid(
                    "payment_hook",
                    format!("`{hook}` must be a path inside the app, like /payments/hook"),
                ));
            }
        }
        if self.component.is_empty()
            || !self.component.ends_with(".wasm")
            || self.component.contains("..")
            || self.component.starts_with('/')
        {
            return Err(invalid(
                "component",
                format!(
                    "`{}` must be a relative path to a .wasm file inside the package",
                    self.component
                ),
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for capability in &self.capabilities {
            capabilities::check_name(capability)
                .map_err(|reason| invalid("capabilities", reason))?;
            if !seen.insert(capability) {
                return Err(invalid(
                    "capabilities",
                    format!("`{capability}` is listed twice"),
                ));
            }
        }
        capabilities::identity::check_purposes(&self.capabilities, &self.purposes)
            .map_err(|reason| invalid("purposes", reason))?;
        self.limits
            .validate()
            .map_err(|(field, reason)| invalid(field, reason))?;
        Ok(())
    }
}

/// Whether `s` is a valid app or publisher id.
pub fn is_slug(s: &str) -> bool {
    (2..=40).contains(&s.len())
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && !s.ends_with('-')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
id = "notes"
version = "1.2.0"
publisher = "citadel-samples"
contract = "^1.0"
component = "notes.wasm"
category = "utilities"
capabilities = ["kv"]
[name]
vi = "Ghi chú"
en = "Notes"
[description]
vi = "Ghi chú"
en = "Notes"
[limits]
memory_mib = 16
"#;

    #[test]
    fn a_good_manifest_parses_with_defaults() {
        let m = Manifest::parse("notes.toml", GOOD).unwrap();
        assert_eq!(m.id, "notes");
        assert_eq!(m.version, Version::new(1, 2, 0));
        assert_eq!(m.limits().memory_bytes, 16 << 20);
        assert_eq!(m.limits().timeout.as_millis(), 2000);
    }

    fn refusal(text: &str) -> String {
        Manifest::parse("app.toml", text).unwrap_err().to_string()
    }

    #[test]
    fn unknown_fields_are_refused_with_file_and_field() {
        let err = refusal(&format!("colour = \"red\"\n{GOOD}"));
        assert!(err.starts_with("app.toml:"), "{err}");
        assert!(err.contains("colour"), "{err}");
    }

    #[test]
    fn bad_values_are_refused_with_the_reason() {
        let err = refusal(&GOOD.replace("id = \"notes\"", "id = \"Notes App\""));
        assert!(
            err.contains("field `id`") && err.contains("Notes App"),
            "{err}"
        );
        let err = refusal(&GOOD.replace("version = \"1.2.0\"", "version = \"one\""));
        assert!(err.contains("version"), "{err}");
        let err = refusal(&GOOD.replace("[\"kv\"]", "[\"kv\", \"teleport\"]"));
        assert!(err.contains("teleport") && err.contains("known"), "{err}");
        let err = refusal(&GOOD.replace("memory_mib = 16", "memory_mib = 100000"));
        assert!(err.contains("limits.memory_mib"), "{err}");
        let err = refusal(&GOOD.replace("notes.wasm", "../../etc/passwd.wasm"));
        assert!(err.contains("field `component`"), "{err}");
        let err = refusal(&GOOD.replace("utilities", "games"));
        assert!(err.contains("field `category`"), "{err}");
    }

    #[test]
    fn placeholder_text_is_refused_naming_each_key() {
        let text = GOOD
            .replace("vi = \"Ghi chú\"", "vi = \"«TODO: tên»\"")
            .replacen("en = \"Notes\"", "en = \"«TODO: name»\"", 1);
        let manifest = Manifest::parse("app.toml", &text).unwrap();
        let err = manifest
            .check_publishable("app.toml")
            .unwrap_err()
            .to_string();
        for key in ["`name.vi`", "`name.en`", "`description.vi`"] {
            assert!(err.contains(key), "{err}");
        }
        assert!(!err.contains("description.en"), "{err}");
        assert!(Manifest::parse("app.toml", GOOD)
            .unwrap()
            .check_publishable("app.toml")
            .is_ok());
    }

    #[test]
    fn the_sample_manifests_are_valid() {
        for (file, text, _) in crate::samples::SAMPLES {
            Manifest::parse(file, text).unwrap();
        }
    }
}
