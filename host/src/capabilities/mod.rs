//! Capabilities: what a mini-app may reach beyond its own sandbox. Each
//! capability lives in one module holding its manifest name, its upload-time
//! import check and its host calls; this file is the registry that lists them.
//! Adding a capability means adding a module, one line in `CAPABILITIES`
//! and one in `add_to_linker`; [`Capabilities`] is how the runtime sees them.

pub mod geo;
pub mod http;
pub mod identity;
pub mod kv;
pub mod location;
pub mod log;
pub mod notify;
pub mod payments;

use crate::localized::{Localized, Text};
use crate::runtime::{AppContext, DenialRecorder, HostCapabilities, RequestState};
use semver::Version;
use std::sync::Arc;
use wasmtime::component::Linker;
use wasmtime_wasi_http::WasiHttpHooks;

/// Host bindings generated from the contract (`sdk/wit`, world `platform`).
pub(crate) mod bindings {
    wasmtime::component::bindgen!({
        path: "../sdk/wit",
        world: "citadel:miniapp/platform",
        // Every host call may trap (it first spends the request's budget)
        // and may wait on the store.
        imports: { default: async | trappable },
    });
}

/// The contract package every citadel interface belongs to.
pub const CONTRACT_PACKAGE: &str = "citadel:miniapp";

/// The contract version this host provides (every 1.x up to it is served).
pub fn contract_version() -> Version {
    Version::new(1, 5, 0)
}

/// One capability a manifest can request.
pub struct Capability {
    /// Its name in manifests.
    pub name: &'static str,
    /// The contract interfaces (`citadel:miniapp/<name>`) it covers.
    pub interfaces: &'static [&'static str],
    /// Its short name for citizens and operators.
    pub label: Text,
    /// What it lets an app do: for the citizen asked for consent and the
    /// operator reviewing a request.
    pub summary: Text,
}

/// What a capability the host knows (a named one, or an `http:` origin)
/// is called and lets an app do, in both languages: the one source of
/// these texts for the shell, the consent page, the permissions pages and
/// the console.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Described {
    pub name: String,
    pub label: Localized,
    pub summary: Localized,
    /// Reaches personal data: needs the citizen's consent too.
    pub personal: bool,
}

/// `name` described, or `None` for a capability this host does not know.
pub fn describe(name: &str) -> Option<Described> {
    let (label, summary) = match all().find(|c| c.name == name) {
        Some(known) => (known.label.into(), known.summary.into()),
        None => {
            let origin = name.strip_prefix(http::PREFIX)?;
            (
                Localized {
                    vi: format!("Kết nối tới {origin}"),
                    en: format!("Connect to {origin}"),
                },
                Localized {
                    vi: format!("gọi dịch vụ {origin} của đối tác qua HTTP"),
                    en: format!("outbound HTTP to the partner's service {origin}"),
                },
            )
        }
    };
    Some(Described {
        name: name.to_string(),
        label,
        summary,
        personal: needs_consent(name),
    })
}

/// Every named capability this host knows (`http:` origins aside).
pub fn all() -> impl Iterator<Item = &'static Capability> {
    [
        &kv::CAPABILITY,
        &notify::CAPABILITY,
        &geo::CAPABILITY,
        &location::CAPABILITY,
    ]
    .into_iter()
    .chain(identity::CAPABILITIES)
    .chain(payments::CAPABILITIES)
}

/// Whether `capability` reaches personal data, which needs the citizen's
/// consent on top of the city's grant: the `identity.*` scopes and `location`.
pub fn needs_consent(capability: &str) -> bool {
    identity::is_personal(capability) || capability == location::NAME
}

impl RequestState {
    /// Which of `capabilities` the signed-in citizen has not consented to
    /// for this app (all of them when nobody is signed in).
    pub(crate) fn missing_consents(
        &self,
        capabilities: &[&str],
    ) -> impl std::future::Future<Output = Result<Vec<String>, crate::store::StoreError>> + Send + 'static
    {
        // Owned, so the future holds no borrow of the request's state.
        let store = self.app.store.clone();
        let app = self.app.id.clone();
        let citizen = self.citizen.as_ref().map(|c| c.citizen.id.clone());
        let capabilities: Vec<String> = capabilities.iter().map(|c| c.to_string()).collect();
        async move {
            let Some(citizen) = citizen else {
                return Ok(capabilities);
            };
            let mut missing = Vec::new();
            for capability in capabilities {
                let consent = store.identity.consent(&citizen, &app, &capability).await?;
                if consent.is_none() {
                    missing.push(capability);
                }
            }
            Ok(missing)
        }
    }
}

/// Contract interfaces every app may import without a capability.
const FREE_INTERFACES: &[&str] = &[log::INTERFACE, identity::INTERFACE];

/// WASI packages and interfaces every app may import: the sandbox grants
/// them nothing (no preopened directory, no socket, empty environment).
const FREE_WASI: &[&str] = &[
    "wasi:cli/",
    "wasi:clocks/",
    "wasi:io/",
    "wasi:random/",
    "wasi:filesystem/",
    "wasi:sockets/",
    "wasi:http/types",
];

/// Accept `name` if it is a known capability, or say which ones are.
pub fn check_name(name: &str) -> Result<(), String> {
    if let Some(origin) = http::check_name(name) {
        return origin;
    }
    if all().any(|c| c.name == name) {
        return Ok(());
    }
    let known: Vec<&str> = all().map(|c| c.name).collect();
    Err(format!(
        "unknown capability `{name}`; known capabilities: {}, and http:<scheme>://<host>[:port]",
        known.join(", ")
    ))
}

pub use crate::runtime::ImportError;

/// Check that each of a component's imports is provided by this host and
/// covered by a capability its manifest requests.
pub fn check_imports<'a>(
    imports: impl IntoIterator<Item = &'a str>,
    requested: &[String],
) -> Result<(), ImportError> {
    let provided = contract_version();
    let mut not_requested = Vec::new();
    for import in imports {
        if FREE_WASI.iter().any(|prefix| import.starts_with(prefix)) {
            continue;
        }
        if import.starts_with(http::OUTGOING_HANDLER) {
            if !requested.iter().any(|r| r.starts_with(http::PREFIX)) {
                not_requested.push((import.to_string(), "http:<scheme>://<host>"));
            }
            continue;
        }
        let Some(rest) = import
            .strip_prefix(CONTRACT_PACKAGE)
            .and_then(|r| r.strip_prefix('/'))
        else {
            return Err(ImportError::NotProvided(import.to_string()));
        };
        let (interface, version) = match rest.split_once('@') {
            Some((interface, version)) => (interface, Some(version)),
            None => (rest, None),
        };
        if let Some(version) = version {
            let needed = Version::parse(version)
                .map_err(|_| ImportError::NotProvided(import.to_string()))?;
            if needed.major != provided.major || needed > provided {
                return Err(ImportError::ContractUnsupported {
                    import: import.to_string(),
                    needed: format!("{CONTRACT_PACKAGE}@{needed}"),
                    provided: format!("{CONTRACT_PACKAGE}@{provided}"),
                });
            }
        }
        if FREE_INTERFACES.contains(&interface) {
            continue;
        }
        let Some(capability) = all().find(|c| c.interfaces.contains(&interface)) else {
            return Err(ImportError::NotProvided(import.to_string()));
        };
        if !requested.iter().any(|r| r == capability.name) {
            not_requested.push((import.to_string(), capability.name));
        }
    }
    if not_requested.is_empty() {
        Ok(())
    } else {
        Err(ImportError::NotRequested(not_requested))
    }
}

/// The host's capabilities as the runtime sees them: their host calls, the
/// import check, and each request's capability state (the payments service,
/// the city's map data, the outbound-HTTP rules).
pub struct Capabilities {
    outbound: Arc<http::OutboundPolicy>,
    payments: Arc<crate::payments::Payments>,
    city: Arc<crate::geo::City>,
}

impl Capabilities {
    /// `allow_loopback_for_tests` lets `http:` grants reach loopback (tests
    /// only: a local server stands in for a partner's API).
    pub fn new(
        payments: Arc<crate::payments::Payments>,
        city: Arc<crate::geo::City>,
        allow_loopback_for_tests: bool,
    ) -> Self {
        Capabilities {
            outbound: Arc::new(http::OutboundPolicy::new(allow_loopback_for_tests)),
            payments,
            city,
        }
    }

    /// The city's map data: places, wards and the units that handle reports.
    pub fn city(&self) -> &crate::geo::City {
        &self.city
    }

    /// The rules for guests' outbound HTTP (the gateway registers its listener).
    pub fn outbound(&self) -> &http::OutboundPolicy {
        &self.outbound
    }
}

impl HostCapabilities for Capabilities {
    fn add_to_linker(&self, linker: &mut Linker<RequestState>) -> wasmtime::Result<()> {
        add_to_linker(linker)
    }

    fn check_imports(&self, imports: &[&str], requested: &[String]) -> Result<(), ImportError> {
        check_imports(imports.iter().copied(), requested)
    }

    fn request_state(
        &self,
        app: &Arc<AppContext>,
        denials: &DenialRecorder,
    ) -> (::http::Extensions, Box<dyn WasiHttpHooks>) {
        let mut state = ::http::Extensions::new();
        state.insert(self.payments.clone());
        state.insert(self.city.clone());
        let hooks = http::OutboundHooks::new(app.clone(), self.outbound.clone(), denials.clone());
        (state, Box::new(hooks))
    }
}

/// Add every capability's host calls to `linker`: one line per capability.
fn add_to_linker(linker: &mut Linker<RequestState>) -> wasmtime::Result<()> {
    kv::add_to_linker(linker)?;
    geo::add_to_linker(linker)?;
    location::add_to_linker(linker)?;
    identity::add_to_linker(linker)?;
    notify::add_to_linker(linker)?;
    payments::add_to_linker(linker)?;
    log::add_to_linker(linker)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_capability_is_named_and_explained_in_both_languages() {
        for capability in all() {
            let described = describe(capability.name).expect("a named capability is described");
            for text in [&described.label, &described.summary] {
                assert!(!text.vi.trim().is_empty() && !text.en.trim().is_empty());
                assert_ne!(text.vi, text.en, "{}: not translated", capability.name);
                assert!(!text.vi.contains(capability.name), "{}", capability.name);
            }
        }
        let http = describe("http:https://api.huewaco.vn").expect("an origin is described");
        assert!(http.label.vi.contains("https://api.huewaco.vn"));
        assert!(!http.personal);
        assert!(describe("identity.name").is_some_and(|d| d.personal));
        assert!(describe("telepathy").is_none());
    }

    #[test]
    fn imports_must_be_requested_and_of_a_provided_contract() {
        let wasi = ["wasi:cli/environment@0.2.12", "wasi:http/types@0.2.12"];
        assert_eq!(check_imports(wasi, &[]), Ok(()));
        assert_eq!(check_imports(["citadel:miniapp/log@1.0.0"], &[]), Ok(()));
        assert_eq!(
            check_imports(["citadel:miniapp/kv@1.0.0"], &["kv".to_string()]),
            Ok(())
        );
        let err = check_imports(["citadel:miniapp/kv@1.0.0"], &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the component imports interfaces its manifest does not request: `citadel:miniapp/kv@1.0.0` (needs capability `kv`)"
        );
        let kv = ["kv".to_string()];
        assert_eq!(
            check_imports(["citadel:miniapp/citizen-kv@1.1.0"], &kv),
            Ok(())
        );
        assert_eq!(
            check_imports(["citadel:miniapp/identity@1.1.0"], &[]),
            Ok(())
        );
        let err = check_imports(["citadel:miniapp/notify@1.1.0"], &kv).unwrap_err();
        assert!(
            err.to_string().contains("needs capability `notify`"),
            "{err}"
        );
        let err = check_imports(["citadel:miniapp/kv@1.6.0"], &kv).unwrap_err();
        assert!(
            err.to_string().contains("provides citadel:miniapp@1.5.0"),
            "{err}"
        );
        let err = check_imports(["citadel:miniapp/kv@2.0.0"], &kv).unwrap_err();
        assert!(
            err.to_string()
                .contains("needs contract citadel:miniapp@2.0.0"),
            "{err}"
        );
        assert!(
            err.to_string().contains("provides citadel:miniapp@1.5.0"),
            "{err}"
        );
        let err = check_imports(["wasi:http/outgoing-handler@0.2.12"], &[]).unwrap_err();
        assert!(
            err.to_string()
                .contains("needs capability `http:<scheme>://<host>`"),
            "{err}"
        );
        let http = ["http:https://api.example.vn".to_string()];
        assert_eq!(
            check_imports(["wasi:http/outgoing-handler@0.2.12"], &http),
            Ok(())
        );
        let err = check_imports(["acme:evil/backdoor"], &[]).unwrap_err();
        assert!(matches!(err, ImportError::NotProvided(_)));
    }

    #[test]
    fn unknown_capability_names_list_the_known_ones() {
        let err = check_name("teleport").unwrap_err();
        assert!(err.contains("teleport") && err.contains("kv"), "{err}");
        assert!(
            err.contains("identity.national-id") && err.contains("http:"),
            "{err}"
        );
        assert_eq!(check_name("identity.phone"), Ok(()));
        assert_eq!(check_name("http:https://*.hue.gov.vn"), Ok(()));
        assert!(check_name("http:https://10.0.0.1").is_err());
    }
}
