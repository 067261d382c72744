//! Who is using the app (contract 1.1). [`current`] needs no capability and
//! gives the citizen's pairwise id and locale; [`profile`] gives personal
//! fields when the city granted the matching `identity.*` capability **and**
//! the citizen consented. [`require_consent`] turns a missing consent into
//! the standard 428 answer that sends the citizen to the host's consent page.

use crate::bindings::citadel::miniapp::identity as host;
use crate::{Error, Result};

pub use host::{Citizen, IdentityError, Profile, Scope, StaffRole};

/// The signed-in citizen as this app knows them, if anyone is signed in.
pub fn current() -> Option<Citizen> {
    host::current()
}

/// The personal fields in `scopes`, all or nothing. With `?` in a handler,
/// a missing consent becomes the 428 answer of [`require_consent`].
pub fn profile(scopes: &[Scope]) -> Result<Profile, IdentityError> {
    host::get_profile(scopes)
}

/// Make sure the citizen has consented to `scopes` for this app; if not,
/// return the 428 error that makes the shell open the consent page.
pub fn require_consent(scopes: &[Scope]) -> Result<()> {
    profile(scopes).map(|_| ()).map_err(Error::from)
}

/// The signed-in citizen's staff roles (scope `roles`): with `?`, a missing
/// consent becomes the 428 answer and a signed-out caller the 401.
pub fn roles() -> Result<Vec<StaffRole>> {
    Ok(profile(&[Scope::Roles])?.roles.unwrap_or_default())
}

/// Refuse with 403 `staff_only` unless the citizen holds a role in `unit`
/// (any role if `role` is `None`).
pub fn require_role(unit: &str, role: Option<&str>) -> Result<StaffRole> {
    roles()?
        .into_iter()
        .find(|r| r.unit == unit && role.is_none_or(|wanted| r.role == wanted))
        .ok_or_else(|| Error::new(403, "staff_only", format!("this is for staff of `{unit}`")))
}

/// The capability name of a scope, e.g. `identity.phone`.
pub fn capability(scope: Scope) -> &'static str {
    match scope {
        Scope::Name => "identity.name",
        Scope::Phone => "identity.phone",
        Scope::NationalId => "identity.national-id",
        Scope::Address => "identity.address",
        Scope::BirthDate => "identity.birth-date",
        Scope::Roles => "identity.roles",
    }
}

/// The scope of a capability name, e.g. `identity.phone`.
pub fn scope(capability: &str) -> Option<Scope> {
    [
        Scope::Name,
        Scope::Phone,
        Scope::NationalId,
        Scope::Address,
        Scope::BirthDate,
        Scope::Roles,
    ]
    .into_iter()
    .find(|s| self::capability(*s) == capability)
}
