//! A text in the two languages every citizen-facing string exists in:
//! Vietnamese (the default) and English. A leaf type: manifests, the runtime
//! and the capabilities all carry it without depending on one another.

use serde::{Deserialize, Serialize};

/// A text in Vietnamese (the default) and English.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Localized {
    pub vi: String,
    pub en: String,
}

/// A fixed text in Vietnamese and English, for the host's own catalogues
/// (capability names and explanations): built at compile time, answered as
/// `{"vi", "en"}` like [`Localized`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Text {
    pub vi: &'static str,
    pub en: &'static str,
}

impl Text {
    pub const fn new(vi: &'static str, en: &'static str) -> Self {
        Text { vi, en }
    }

    /// The text in `locale` (`en`, else Vietnamese).
    pub fn in_locale(&self, locale: &str) -> &'static str {
        if locale == "en" {
            self.en
        } else {
            self.vi
        }
    }
}

impl From<Text> for Localized {
    fn from(text: Text) -> Self {
        Localized {
            vi: text.vi.to_string(),
            en: text.en.to_string(),
        }
    }
}
