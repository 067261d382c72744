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
