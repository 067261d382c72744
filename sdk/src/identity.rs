//! Who is using the app (contract 1.1). [`current`] needs no capability and
//! gives the citizen's pairwise id and locale; [`profile`] gives personal
//! fields when the city granted the matching `identity.*` capability **and**
//! the citizen consented. [`require_consent`] turns a missing consent into
//! the standard 428 answer that sends the citizen to the host's consent page.
//! Staff roles ([`roles`], `identity.roles`) are the city's assignment of
//! duties, not personal data: the grant alone gives them, with no consent
//! prompt, so [`is_staff`] can decide on any page whether to show a staff link.

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

/// The signed-in citizen's staff roles (scope `roles`, capability
/// `identity.roles`): the city's grant is enough, the citizen is not asked.
/// With `?`, a signed-out caller becomes the 401 and a missing grant the 403.
pub fn roles() -> Result<Vec<StaffRole>> {
    Ok(profile(&[Scope::Roles])?.roles.unwrap_or_default())
}

/// Refuse with 403 `staff_only` unless the citizen holds a role in `unit`
/// (any role if `role` is `None`). Staff pages and actions check this.
pub fn require_role(unit: &str, role: Option<&str>) -> Result<StaffRole> {
    roles()?
        .into_iter()
        .find(|r| r.is(unit, role))
        .ok_or_else(|| Error::new(403, "staff_only", format!("this is for staff of `{unit}`")))
}

/// Whether to show a staff link: the signed-in citizen holds a role that
/// `relevant` accepts. Signed out, role-less, an app without the
/// `identity.roles` grant, or roles that cannot be read now: `false`. It
/// only decides what a page shows; the staff page itself checks with
/// [`require_role`].
pub fn is_staff(relevant: impl Fn(&StaffRole) -> bool) -> bool {
    current().is_some() && roles().is_ok_and(|roles| roles.iter().any(relevant))
}

impl StaffRole {
    /// Whether this is a role in `unit` (`role`: only that role).
    pub fn is(&self, unit: &str, role: Option<&str>) -> bool {
        self.unit == unit && role.is_none_or(|wanted| self.role == wanted)
    }
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
