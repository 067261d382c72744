//! Capability `notify`: a message from the app to a citizen's inbox (read
//! through `GET /api/v1/me/inbox`) — the signed-in citizen's, or another
//! citizen's of the same app, named by pairwise id. Owns its manifest name, the
//! message rules, the per-(app, citizen) rate limit and the host call.

use super::bindings::citadel::miniapp::notify::{self as wit, NotifyError};
use super::Capability;
use crate::localized::Text;
use crate::runtime::RequestState;
use crate::store::{InboxMessage, StoreError, Through};
use wasmtime::component::{HasSelf, Linker};

pub const NAME: &str = "notify";
/// The contract interface.
const INTERFACE: &str = "notify";

pub const CAPABILITY: Capability = Capability {
    name: NAME,
    interfaces: &[INTERFACE],
    label: Text::new("Gửi tin nhắn", "Send messages"),
    summary: Text::new(
        "gửi tin nhắn vào hộp thư của công dân",
        "messages to the citizen's inbox",
    ),
};

/// Messages one app may send one citizen per window.
pub const RATE_LIMIT: usize = 5;
/// The rate limit's sliding window.
pub const WINDOW_MS: u64 = 60 * 60 * 1000;
const _: () = assert!(WINDOW_MS <= crate::store::MAX_RATE_WINDOW_MS);

/// The key of the rate limit on `app`'s messages to `citizen` (it names
/// them: their erasure forgets it).
pub fn rate_window(app: &str, citizen: &str) -> String {
    format!("notify\0{app}\0{citizen}")
}
const MAX_TITLE_CHARS: usize = 120;
const MAX_BODY_CHARS: usize = 2000;
const MAX_LINK_CHARS: usize = 512;

pub fn add_to_linker(linker: &mut Linker<RequestState>) -> wasmtime::Result<()> {
    wit::add_to_linker::<_, HasSelf<RequestState>>(linker, |state| state)
}

fn check_message(title: &str, body: &str, link: Option<&str>) -> Result<(), NotifyError> {
    let invalid = |why: String| Err(NotifyError::Invalid(why));
    if title.trim().is_empty() || title.chars().count() > MAX_TITLE_CHARS {
        return invalid(format!(
            "the title must be 1 to {MAX_TITLE_CHARS} characters"
        ));
    }
    if body.chars().count() > MAX_BODY_CHARS {
        return invalid(format!(
            "the body must be at most {MAX_BODY_CHARS} characters"
        ));
    }
    if let Some(link) = link {
        if !link.starts_with('/')
            || link.starts_with("//")
            || link.chars().count() > MAX_LINK_CHARS
            || link.chars().any(|c| c.is_control() || c == '\\')
        {
            return invalid(format!(
                "the link must be a path inside the app starting with a single `/`, at most {MAX_LINK_CHARS} characters"
            ));
        }
    }
    Ok(())
}

/// What the app is told when the pairwise id it named is not (or no
/// longer) one of its citizens.
const NOT_A_CITIZEN: &str =
    "the recipient is not a citizen of this app (use the pairwise id the app saw them under)";

fn unavailable(e: StoreError) -> NotifyError {
    match e {
        // The citizen's session ended, or the app's link to the recipient
        // went (an erasure), while the request was under way: nothing was
        // delivered.
        StoreError::SessionEnded => NotifyError::NotSignedIn,
        StoreError::LinkEnded => NotifyError::Invalid(NOT_A_CITIZEN.into()),
        e => {
            tracing::error!(error = %e, "notify host call failed");
            NotifyError::Unavailable("the inbox is unavailable; try again".into())
        }
    }
}

impl RequestState {
    /// Check the capability and the message, apply the recipient's rate
    /// limit, and append to their inbox.
    async fn deliver(
        &mut self,
        recipient: Option<String>,
        title: String,
        body: String,
        link: Option<String>,
    ) -> Result<(), NotifyError> {
        if !self.app.has_capability(NAME) {
            self.record_denial(NAME, crate::audit::messages::DENIED_NOT_GRANTED.message());
            return Err(NotifyError::Denied(NAME.into()));
        }
        check_message(&title, &body, link.as_deref())?;
        // The message lands only while what named the recipient stands: the
        // signed-in citizen's session, or the app's link to the citizen.
        let (citizen, through) = match &recipient {
            // `current` is the signed-in citizen's id, never one the app chose.
            None => match self.citizen.as_ref() {
                Some(signed_in) => (signed_in.citizen.id.clone(), signed_in.session.through()),
                None => return Err(NotifyError::NotSignedIn),
            },
            Some(pairwise_id) => {
                let citizen = self
                    .app
                    .store
                    .identity
                    .pairwise_citizen(&self.app.id, pairwise_id)
                    .await
                    .map_err(unavailable)?
                    .ok_or_else(|| NotifyError::Invalid(NOT_A_CITIZEN.into()))?;
                let link = Through::Link {
                    app: &self.app.id,
                    pairwise_id,
                };
                (citizen, link)
            }
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        // The window is kept in the store: every host counts against it, and
        // a restart forgets nothing.
        let window = rate_window(&self.app.id, &citizen);
        let taken = self
            .app
            .store
            .limits
            .take(&window, RATE_LIMIT, WINDOW_MS, now)
            .await
            .map_err(unavailable)?;
        if let Err(wait_ms) = taken {
            return Err(NotifyError::RateLimited(
                wait_ms.div_ceil(1000).max(1) as u32
            ));
        }
        self.app
            .store
            .identity
            .inbox_append(
                &citizen,
                &InboxMessage {
                    app: self.app.id.clone(),
                    title,
                    body,
                    link,
                    at: now,
                },
                Some(through),
            )
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

impl wit::Host for RequestState {
    async fn send(
        &mut self,
        title: String,
        body: String,
        link: Option<String>,
    ) -> wasmtime::Result<Result<(), NotifyError>> {
        self.host_call(INTERFACE)?;
        Ok(self.deliver(None, title, body, link).await)
    }

    async fn send_to(
        &mut self,
        recipient: String,
        title: String,
        body: String,
        link: Option<String>,
    ) -> wasmtime::Result<Result<(), NotifyError>> {
        self.host_call(INTERFACE)?;
        Ok(self.deliver(Some(recipient), title, body, link).await)
    }
}
