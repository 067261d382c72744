//! Capabilities `identity.*`: the citizen's personal fields, one scope each.
//! Owns the scope names, the upload-time rule that each personal scope
//! states its purpose, and the `identity` interface's host calls: the
//! pairwise id and locale for anyone, a personal field only with grant
//! **and** consent, staff roles (`identity.roles`) with the grant alone.

use super::bindings::citadel::miniapp::identity::{
    self as wit, IdentityError, Profile, Scope, StaffRole,
};
use super::Capability;
use crate::localized::Localized;
use crate::localized::Text;
use crate::runtime::RequestState;
use std::collections::BTreeMap;
use wasmtime::component::{HasSelf, Linker};

/// The interface; importing it needs no capability (see `current`).
pub const INTERFACE: &str = "identity";

pub const CAPABILITIES: &[Capability] = &[
    scope(
        "identity.name",
        Text::new("Họ và tên", "Full name"),
        Text::new("họ và tên đầy đủ của công dân", "the citizen's full name"),
    ),
    scope(
        "identity.phone",
        Text::new("Số điện thoại", "Phone number"),
        Text::new("số điện thoại của công dân", "the citizen's phone number"),
    ),
    scope(
        "identity.national-id",
        Text::new("Số định danh cá nhân", "National id number"),
        Text::new(
            "số định danh cá nhân (căn cước) của công dân",
            "the citizen's national id number",
        ),
    ),
    scope(
        "identity.address",
        Text::new("Địa chỉ thường trú", "Registered address"),
        Text::new(
            "địa chỉ thường trú của công dân",
            "the citizen's registered address",
        ),
    ),
    scope(
        "identity.birth-date",
        Text::new("Ngày sinh", "Date of birth"),
        Text::new("ngày sinh của công dân", "the citizen's date of birth"),
    ),
    scope(
        ROLES,
        Text::new("Vai trò công tác", "Staff roles"),
        Text::new(
            "vai trò công tác mà thành phố phân công cho công dân trong các đơn vị của thành phố — là phân công của thành phố, không phải dữ liệu cá nhân, nên không cần công dân đồng ý",
            "the staff roles the city assigned the citizen in its units — the city's assignment of duties, not personal data, so the citizen is not asked to consent",
        ),
    ),
];

/// Staff roles: the city's assignment of duties, not the citizen's personal
/// data. An app the city granted this capability reads the signed-in
/// citizen's roles without a consent prompt (so it can decide on every page
/// whether to show a staff link); without the grant it is refused as ever.
pub const ROLES: &str = "identity.roles";

const fn scope(name: &'static str, label: Text, summary: Text) -> Capability {
    Capability {
        name,
        interfaces: &[],
        label,
        summary,
    }
}

/// Whether `capability` is a personal scope, which needs the citizen's
/// consent: every `identity.*` scope but [`ROLES`].
pub fn is_personal(capability: &str) -> bool {
    capability != ROLES && CAPABILITIES.iter().any(|c| c.name == capability)
}

/// Upload-time check: every capability needing consent that a manifest
/// requests states its purpose (shown to the citizen when consent is asked),
/// and no purpose is given for a capability the manifest does not request.
pub fn check_purposes(
    requested: &[String],
    purposes: &BTreeMap<String, Localized>,
) -> Result<(), String> {
    for capability in requested.iter().filter(|c| super::needs_consent(c)) {
        match purposes.get(capability) {
            None => {
                return Err(format!(
                    "`{capability}` is requested without a purpose; add `[purposes.\"{capability}\"]` with `vi` and `en` texts saying why the app needs it"
                ))
            }
            Some(text) if text.vi.trim().is_empty() || text.en.trim().is_empty() => {
                return Err(format!(
                    "the purpose of `{capability}` must have non-empty `vi` and `en` texts"
                ))
            }
            Some(_) => {}
        }
    }
    if let Some(stray) = purposes.keys().find(|p| !requested.contains(p)) {
        return Err(format!(
            "a purpose is given for `{stray}`, which the manifest does not request"
        ));
    }
    Ok(())
}

/// Each scope a guest may ask for, with its capability name, in name order.
const SCOPES: [(Scope, &str); 6] = [
    (Scope::Address, "identity.address"),
    (Scope::BirthDate, "identity.birth-date"),
    (Scope::Name, "identity.name"),
    (Scope::NationalId, "identity.national-id"),
    (Scope::Phone, "identity.phone"),
    (Scope::Roles, ROLES),
];

/// The capability names of the scopes a guest asked for, each once and in
/// name order. The guest's list may be as long as its memory allows: it is
/// read once, into a set of six, never copied.
fn asked_names(scopes: &[Scope]) -> Vec<&'static str> {
    let mut asked = [false; SCOPES.len()];
    for scope in scopes {
        if let Some(i) = SCOPES.iter().position(|(known, _)| known == scope) {
            asked[i] = true;
        }
    }
    SCOPES
        .iter()
        .zip(asked)
        .filter(|(_, asked)| *asked)
        .map(|((_, name), _)| *name)
        .collect()
}

pub fn add_to_linker(linker: &mut Linker<RequestState>) -> wasmtime::Result<()> {
    wit::add_to_linker::<_, HasSelf<RequestState>>(linker, |state| state)
}

impl wit::Host for RequestState {
    async fn current(&mut self) -> wasmtime::Result<Option<wit::Citizen>> {
        self.host_call(INTERFACE)?;
        Ok(self.citizen.as_ref().map(|signed_in| wit::Citizen {
            id: signed_in.pairwise_id.clone(),
            locale: signed_in.citizen.locale.clone(),
        }))
    }

    async fn get_profile(
        &mut self,
        scopes: Vec<Scope>,
    ) -> wasmtime::Result<Result<Profile, IdentityError>> {
        self.host_call(INTERFACE)?;
        let this = &mut *self;
        let answer: Result<Profile, IdentityError> = async move {
            let Some(signed_in) = this.citizen.as_ref() else {
                return Err(IdentityError::NotSignedIn);
            };
            let names = asked_names(&scopes);
            if let Some(denied) = names.iter().find(|name| !this.app.has_capability(name)) {
                this.record_denial(denied, crate::audit::messages::DENIED_NOT_GRANTED.message());
                return Err(IdentityError::Denied((*denied).to_string()));
            }
            // The grant covers every scope asked for; consent only the
            // personal ones (not staff roles).
            let personal: Vec<&str> = names
                .iter()
                .copied()
                .filter(|name| super::needs_consent(name))
                .collect();
            let missing = this.missing_consents(&personal).await.map_err(|e| {
                tracing::error!(error = %e, "consent lookup failed");
                IdentityError::Unavailable("consents cannot be read now; try again".into())
            })?;
            if !missing.is_empty() {
                for name in &missing {
                    this.record_denial(name, crate::audit::messages::DENIED_NO_CONSENT.message());
                }
                return Err(IdentityError::ConsentRequired(missing));
            }
            let citizen = &signed_in.citizen;
            let wants = |scope: &str| names.contains(&scope);
            Ok(Profile {
                name: wants("identity.name").then(|| citizen.name.clone()),
                phone: wants("identity.phone").then(|| citizen.phone.clone()),
                national_id: wants("identity.national-id").then(|| citizen.national_id.clone()),
                address: wants("identity.address").then(|| citizen.address.clone()),
                birth_date: wants("identity.birth-date").then(|| citizen.birth_date.clone()),
                roles: wants(ROLES).then(|| {
                    citizen
                        .roles
                        .iter()
                        .map(|r| StaffRole {
                            unit: r.unit.clone(),
                            role: r.role.clone(),
                        })
                        .collect()
                }),
            })
        }
        .await;
        Ok(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn purpose(text: &str) -> Localized {
        Localized {
            vi: text.into(),
            en: text.into(),
        }
    }

    #[test]
    fn a_long_list_of_scopes_is_read_as_the_set_it_names() {
        let mut scopes = vec![Scope::Roles; 1_000_000];
        scopes.extend([Scope::Phone, Scope::Address, Scope::Phone]);
        assert_eq!(
            asked_names(&scopes),
            ["identity.address", "identity.phone", "identity.roles"]
        );
        assert!(asked_names(&[]).is_empty());
        // Every scope has its capability, in name order.
        let names: Vec<&str> = SCOPES.iter().map(|(_, name)| *name).collect();
        assert!(names.is_sorted());
        for name in names {
            assert!(CAPABILITIES.iter().any(|c| c.name == name), "{name}");
        }
    }

    #[test]
    fn each_personal_scope_states_its_purpose() {
        let requested = vec!["kv".to_string(), "identity.phone".to_string()];
        let mut purposes = BTreeMap::new();
        let err = check_purposes(&requested, &purposes).unwrap_err();
        assert!(
            err.contains("`identity.phone` is requested without a purpose"),
            "{err}"
        );
        purposes.insert("identity.phone".to_string(), purpose("to call you back"));
        assert_eq!(check_purposes(&requested, &purposes), Ok(()));
        purposes.insert("identity.name".to_string(), purpose("to greet you"));
        let err = check_purposes(&requested, &purposes).unwrap_err();
        assert!(
            err.contains("`identity.name`, which the manifest does not request"),
            "{err}"
        );
        purposes.remove("identity.name");
        purposes.insert("identity.phone".to_string(), purpose(" "));
        assert!(check_purposes(&requested, &purposes).is_err());
    }

    #[test]
    fn staff_roles_need_the_grant_but_no_consent() {
        assert!(!is_personal(ROLES) && !crate::capabilities::needs_consent(ROLES));
        assert!(
            CAPABILITIES.iter().any(|c| c.name == ROLES),
            "still a capability"
        );
        assert!(is_personal("identity.phone") && is_personal("identity.name"));
        assert_eq!(
            check_purposes(&[ROLES.to_string()], &BTreeMap::new()),
            Ok(()),
            "no purpose to show: nobody is asked"
        );
        let described = crate::capabilities::describe(ROLES).expect("described");
        assert!(!described.personal);
        assert!(described.summary.en.contains("not asked to consent"));
        assert!(described.summary.vi.contains("không cần công dân đồng ý"));
    }
}
