//! A text in the two languages every citizen-facing string exists in:
//! Vietnamese (the default) and English. A leaf type: manifests, the runtime
//! and the capabilities all carry it without depending on one another.

use serde::{Deserialize, Serialize};

/// A text in Vietnamese (the default) and English.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Localized {
    pub vi: String,
    pub en: String,
}
