//! Capabilities `identity.*`: the citizen's personal fields, one scope each.
//! Owns the scope names; the host calls arrive with contract 1.1 (they need
//! citizen sessions and consent, which this host does not have yet).

use super::Capability;

pub const CAPABILITIES: &[Capability] = &[
    scope("identity.name", "the citizen's full name"),
    scope("identity.phone", "the citizen's phone number"),
    scope("identity.national-id", "the citizen's national id number"),
    scope("identity.address", "the citizen's registered address"),
    scope("identity.birth-date", "the citizen's date of birth"),
    scope("identity.roles", "the citizen's staff roles in city units"),
];

const fn scope(name: &'static str, summary: &'static str) -> Capability {
    Capability {
        name,
        interfaces: &[],
        summary,
    }
}
