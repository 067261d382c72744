//! Capability `location`: the citizen's last reported position, given only
//! with the city's grant and the citizen's consent. Owns the manifest name
//! and the `location` interface's host call.

use super::bindings::citadel::miniapp::location::{self as wit, LocationError, Position};
use super::Capability;
use crate::localized::Text;
use crate::runtime::RequestState;
use wasmtime::component::{HasSelf, Linker};

pub const NAME: &str = "location";
/// The contract interface.
const INTERFACE: &str = "location";

pub const CAPABILITY: Capability = Capability {
    name: NAME,
    interfaces: &[INTERFACE],
    label: Text::new("Vị trí của bạn", "Your location"),
    summary: Text::new(
        "vị trí hiện tại của công dân, khi công dân đồng ý",
        "the citizen's position, with consent",
    ),
};

pub fn add_to_linker(linker: &mut Linker<RequestState>) -> wasmtime::Result<()> {
    wit::add_to_linker::<_, HasSelf<RequestState>>(linker, |state| state)
}

impl wit::Host for RequestState {
    async fn current(&mut self) -> wasmtime::Result<Result<Position, LocationError>> {
        self.host_call(INTERFACE)?;
        let this = &mut *self;
        let answer: Result<Position, LocationError> = async move {
            let Some(signed_in) = this.citizen.as_ref() else {
                return Err(LocationError::NotSignedIn);
            };
            if !this.app.has_capability(NAME) {
                this.record_denial(NAME, crate::audit::messages::DENIED_NOT_GRANTED.message());
                return Err(LocationError::Denied(NAME.into()));
            }
            let position = signed_in.position;
            let missing = this.missing_consents(&[NAME]).await.map_err(|e| {
                tracing::error!(error = %e, "consent lookup failed");
                LocationError::Unavailable("consents cannot be read now; try again".into())
            })?;
            if !missing.is_empty() {
                this.record_denial(NAME, crate::audit::messages::DENIED_NO_CONSENT.message());
                return Err(LocationError::ConsentRequired(missing));
            }
            let position = position.ok_or(LocationError::Unknown)?;
            Ok(Position {
                lat: position.lat,
                lon: position.lon,
                accuracy_m: position.accuracy_m,
                at: position.at,
            })
        }
        .await;
        Ok(answer)
    }
}
