//! `ANY /apps/{app}/{*path}`: turns a citizen's request into a wasi:http
//! request for the app's live version — credentials and hop-by-hop headers
//! stripped, host headers added — and streams the answer back.

use super::error::{wants_page, ApiError, ErrorBody};
use super::request_id::{current_request_id, ServedBy};
use crate::identity::sessions::SessionKey;
use crate::public_url::PublicUrl;
use crate::registry::Route;
use crate::runtime::{AppContext, Caller, SignedIn};
use crate::{telemetry, Citadel};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use std::sync::Arc;

/// The policy every app response carries, whatever the app sends.
pub const APP_CSP: &str =
    "sandbox allow-scripts allow-forms allow-popups allow-modals allow-downloads";

/// Headers that never reach a guest: credentials, hop-by-hop, and anything
/// pretending to come from the host.
fn strip_incoming(headers: &mut HeaderMap) {
    const CREDENTIALS_AND_HOST: [HeaderName; 4] = [
        header::AUTHORIZATION,
        header::COOKIE,
        header::PROXY_AUTHORIZATION,
        header::HOST,
    ];
    remove_where(headers, |name| {
        CREDENTIALS_AND_HOST.contains(name) || name.as_str().starts_with("x-citadel-")
    });
}

/// Keep only the headers a guest may send to a citizen (an allowlist: every
/// app shares the host's origin, so a header the browser applies to the
/// whole origin — cookies, `Strict-Transport-Security`, `Clear-Site-Data`,
/// `NEL` and `Report-To`, `Alt-Svc`, `Service-Worker-Allowed`, a
/// `WWW-Authenticate` prompt — would reach every other app and the shell).
fn strip_outgoing(headers: &mut HeaderMap) {
    remove_where(headers, |name| !guest_may_send(name));
}

/// An answer made for a signed-in citizen is theirs alone: a shared cache
/// must not keep it, whatever the app said (`public` and `s-maxage` are
/// dropped, `private` added unless the app forbade storing it at all).
fn keep_private(headers: &mut HeaderMap) {
    let asked = headers
        .get(header::CACHE_CONTROL)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let mut directives: Vec<&str> = asked
        .split(',')
        .map(str::trim)
        .filter(|directive| {
            let name = directive.split('=').next().unwrap_or_default();
            !directive.is_empty()
                && !name.eq_ignore_ascii_case("public")
                && !name.eq_ignore_ascii_case("s-maxage")
        })
        .collect();
    let private_already = directives
        .iter()
        .any(|d| d.eq_ignore_ascii_case("private") || d.eq_ignore_ascii_case("no-store"));
    if !private_already {
        directives.insert(0, "private");
    }
    if let Ok(value) = HeaderValue::from_str(&directives.join(", ")) {
        headers.insert(header::CACHE_CONTROL, value);
    }
}

/// Whether a guest's answer may carry header `name` to the citizen: what
/// describes, caches or redirects the answer, and the app's own `x-`
/// headers outside the host's `x-citadel-` names (but the consent request,
/// which the host reads).
fn guest_may_send(name: &HeaderName) -> bool {
    const DESCRIBE_CACHE_REDIRECT: [HeaderName; 14] = [
        header::CONTENT_TYPE,
        header::CONTENT_LENGTH,
        header::CONTENT_LANGUAGE,
        header::CONTENT_DISPOSITION,
        header::CONTENT_ENCODING,
        header::CONTENT_RANGE,
        header::ACCEPT_RANGES,
        header::CACHE_CONTROL,
        header::EXPIRES,
        header::ETAG,
        header::LAST_MODIFIED,
        header::VARY,
        header::LOCATION,
        header::RETRY_AFTER,
    ];
    if DESCRIBE_CACHE_REDIRECT.contains(name) || name == header::ALLOW || name == CONSENT_HEADER {
        return true;
    }
    let name = name.as_str();
    name.starts_with("x-") && !name.starts_with("x-citadel-")
}

/// Remove the headers `refused` names and every hop-by-hop header, those
/// named in `Connection` included, in one pass over the names present (a
/// request carries a handful; looking up each refused name would cost more).
fn remove_where(headers: &mut HeaderMap, refused: impl Fn(&HeaderName) -> bool) {
    const HOP_BY_HOP: [HeaderName; 8] = [
        header::CONNECTION,
        HeaderName::from_static("keep-alive"),
        header::PROXY_AUTHENTICATE,
        header::TE,
        header::TRAILER,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
        HeaderName::from_static("proxy-connection"),
    ];
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    let removed: Vec<HeaderName> = headers
        .keys()
        .filter(|name| HOP_BY_HOP.contains(name) || named.contains(name) || refused(name))
        .cloned()
        .collect();
    for name in removed {
        headers.remove(name);
    }
}

/// The app's root with the trailing slash its relative links need.
fn redirect_to_root(uri: &Uri) -> Response {
    Redirect::permanent(&format!("{}/", uri.path())).into_response()
}

/// `/apps/{app}` without the trailing slash: a redirect to `/apps/{app}/`.
#[utoipa::path(
    method(get, post, put, delete, patch, head, options),
    path = "/apps/{app}",
    tag = "apps",
    summary = "Redirect to the app's root",
    params(("app" = String, Path, description = "The app's id.")),
    responses((status = 308, description = "To `/apps/{app}/`: relative links need the slash.",
        headers(("location" = String, description = "`/apps/{app}/`"))))
)]
pub async fn app_root_redirect(uri: Uri) -> Response {
    redirect_to_root(&uri)
}

/// `/f/{token}/apps/{app}` without the trailing slash: a redirect to
/// `/f/{token}/apps/{app}/`.
#[utoipa::path(
    method(get, post, put, delete, patch, head, options),
    path = "/f/{token}/apps/{app}",
    tag = "apps",
    summary = "Redirect to the framed app's root",
    params(
        ("token" = String, Path, description = FRAME_TOKEN),
        ("app" = String, Path, description = "The app's id."),
    ),
    responses((status = 308, description = "To `/f/{token}/apps/{app}/`: relative links \
        need the slash.", headers(("location" = String, description = "`/f/{token}/apps/{app}/`"))))
)]
pub async fn frame_root_redirect(uri: Uri) -> Response {
    redirect_to_root(&uri)
}

/// What the OpenAPI document says of the path parameter of a frame.
const FRAME_TOKEN: &str = "A frame token from `POST /api/v1/me/frames`: it names the citizen \
    to this app only, and expires.";
/// What the OpenAPI document says of an app's own answer.
const APP_ANSWER: &str = "Whatever the app answers: any status and content. The host adds its \
    content security policy, `x-content-type-options: nosniff` and `x-citadel-app-version`, \
    and drops the app's cookies. The host's own refusals below have the JSON error body; the \
    app may answer the same statuses itself.";
const APP_BAD_REQUEST: &str =
    "`bad_request`: the path is not a valid request URI; `bad_request_body`: the body could \
     not be read.";
const APP_NOT_FOUND: &str = "`app_not_found`: no live app has this id.";
const APP_REQUEST_TIMEOUT: &str = "`request_body_timeout`: the body arrived too slowly.";
const APP_TOO_LARGE: &str = "`body_too_large`: the body is larger than the app's limit.";
const APP_FAILED: &str = "`guest_trap`, `guest_out_of_memory`, `guest_no_response`, \
    `guest_host_call_budget`: the app failed while handling the request.";
const APP_RESPONSE_TOO_LARGE: &str =
    "`response_too_large`: the app's answer is larger than its limit; `guest_invalid_answer`: \
     the app's answer is not valid HTTP (a status outside 100-599, a malformed header).";
const APP_UNAVAILABLE: &str = "`app_suspended`: the city suspended the app (an HTML page \
    instead when the caller accepts `text/html`); `app_busy`, `host_busy`: too many requests \
    in flight, try again; `app_unavailable`: the app cannot be started; `storage_unavailable`.";
const APP_DEADLINE: &str = "`deadline_exceeded`: the app did not answer within its deadline.";

/// Where and for whom an app request is served.
struct Mount {
    app_id: String,
    /// The path after the app's mount point, without its leading `/`.
    rest: String,
    /// What the app sees as `x-citadel-base-path`.
    base_path: String,
    /// Served into the shell's frame (`/f/{token}/apps/…`).
    frame: bool,
}

/// `/apps/{app}/`: the app's root, served as [`dispatch`] serves its paths.
#[utoipa::path(
    method(get, post, put, delete, patch, head, options),
    path = "/apps/{app}/",
    tag = "apps",
    summary = "The app's root page",
    description = "Served by the app's live version (or its canary, for a stable share of \
        callers). A citizen session, if sent, tells the app who calls, by a pairwise id; \
        credentials and cookies never reach the app.",
    params(("app" = String, Path, description = "The app's id.")),
    request_body(description = "Passed to the app as sent, up to the app's limit.",
        content(("*/*"))),
    responses(
        (status = "default", description = APP_ANSWER, content(("*/*"))),
        (status = 400, description = APP_BAD_REQUEST, body = ErrorBody),
        (status = 404, description = APP_NOT_FOUND, body = ErrorBody),
        (status = 408, description = APP_REQUEST_TIMEOUT, body = ErrorBody),
        (status = 413, description = APP_TOO_LARGE, body = ErrorBody),
        (status = 500, description = APP_FAILED, body = ErrorBody),
        (status = 502, description = APP_RESPONSE_TOO_LARGE, body = ErrorBody),
        (status = 503, description = APP_UNAVAILABLE, body = ErrorBody),
        (status = 504, description = APP_DEADLINE, body = ErrorBody),
    )
)]
pub async fn dispatch_root(state: State<Arc<Citadel>>, request: Request) -> Response {
    dispatch(state, request).await
}

/// `/apps/{app}/…`: the citizen (if any) is the session's, by bearer token
/// or cookie.
#[utoipa::path(
    method(get, post, put, delete, patch, head, options),
    path = "/apps/{app}/{path}",
    tag = "apps",
    summary = "A path of the app",
    description = "Served by the app's live version (or its canary, for a stable share of \
        callers). A citizen session, if sent, tells the app who calls, by a pairwise id; \
        credentials and cookies never reach the app.",
    params(
        ("app" = String, Path, description = "The app's id."),
        ("path" = String, Path, description = "The rest of the path, passed to the app \
            (slashes included)."),
    ),
    request_body(description = "Passed to the app as sent, up to the app's limit.",
        content(("*/*"))),
    responses(
        (status = "default", description = APP_ANSWER, content(("*/*"))),
        (status = 400, description = APP_BAD_REQUEST, body = ErrorBody),
        (status = 404, description = APP_NOT_FOUND, body = ErrorBody),
        (status = 408, description = APP_REQUEST_TIMEOUT, body = ErrorBody),
        (status = 413, description = APP_TOO_LARGE, body = ErrorBody),
        (status = 500, description = APP_FAILED, body = ErrorBody),
        (status = 502, description = APP_RESPONSE_TOO_LARGE, body = ErrorBody),
        (status = 503, description = APP_UNAVAILABLE, body = ErrorBody),
        (status = 504, description = APP_DEADLINE, body = ErrorBody),
    )
)]
pub async fn dispatch(State(citadel): State<Arc<Citadel>>, request: Request) -> Response {
    let page = wants_page(request.headers());
    let path = request.uri().path().to_string();
    let Some((app_id, rest)) = path.strip_prefix("/apps/").and_then(|p| p.split_once('/')) else {
        return ApiError::not_found("not_found", "no such path").answer(page, false);
    };
    let citizen = match super::citizen::signed_in(&citadel, request.headers()).await {
        Ok(citizen) => citizen,
        Err(e) => return e.answer(page, false),
    };
    let mount = Mount {
        app_id: app_id.to_string(),
        rest: rest.to_string(),
        base_path: format!("/apps/{app_id}"),
        frame: false,
    };
    serve(citadel, request, mount, citizen, page).await
}

/// What the OpenAPI document says of a framed app's answer.
const FRAME_ANSWER: &str = "Whatever the app answers, as for `/apps/{app}/…`, framed only by \
    the host's pages and sent with no referrer. A small host page that tells the shell what \
    to do by `postMessage` instead (a 200) when the frame token has expired, or when a page \
    load is answered with a consent request (428) or a redirect to a payment (`/pay/{id}`).";

/// `/f/{token}/apps/{app}/`: the framed app's root, served as
/// [`dispatch_frame`] serves its paths.
#[utoipa::path(
    method(get, post, put, delete, patch, head, options),
    path = "/f/{token}/apps/{app}/",
    tag = "apps",
    summary = "The app's root page in the shell's frame",
    description = "The citizen is the frame token's, whatever cookie the browser sends; \
        bearer credentials mean nothing here.",
    params(
        ("token" = String, Path, description = FRAME_TOKEN),
        ("app" = String, Path, description = "The app's id."),
    ),
    request_body(description = "Passed to the app as sent, up to the app's limit.",
        content(("*/*"))),
    responses(
        (status = "default", description = FRAME_ANSWER, content(("*/*"))),
        (status = 400, description = APP_BAD_REQUEST, body = ErrorBody),
        (status = 404, description = APP_NOT_FOUND, body = ErrorBody),
        (status = 408, description = APP_REQUEST_TIMEOUT, body = ErrorBody),
        (status = 413, description = APP_TOO_LARGE, body = ErrorBody),
        (status = 500, description = APP_FAILED, body = ErrorBody),
        (status = 502, description = APP_RESPONSE_TOO_LARGE, body = ErrorBody),
        (status = 503, description = APP_UNAVAILABLE, body = ErrorBody),
        (status = 504, description = APP_DEADLINE, body = ErrorBody),
    )
)]
pub async fn dispatch_frame_root(state: State<Arc<Citadel>>, request: Request) -> Response {
    dispatch_frame(state, request).await
}

/// `/f/{token}/apps/{app}/…`: an app in the shell's frame; the citizen is
/// the frame token's, whatever cookie the browser sends.
#[utoipa::path(
    method(get, post, put, delete, patch, head, options),
    path = "/f/{token}/apps/{app}/{path}",
    tag = "apps",
    summary = "A path of the app in the shell's frame",
    description = "The citizen is the frame token's, whatever cookie the browser sends; \
        bearer credentials mean nothing here.",
    params(
        ("token" = String, Path, description = FRAME_TOKEN),
        ("app" = String, Path, description = "The app's id."),
        ("path" = String, Path, description = "The rest of the path, passed to the app \
            (slashes included)."),
    ),
    request_body(description = "Passed to the app as sent, up to the app's limit.",
        content(("*/*"))),
    responses(
        (status = "default", description = FRAME_ANSWER, content(("*/*"))),
        (status = 400, description = APP_BAD_REQUEST, body = ErrorBody),
        (status = 404, description = APP_NOT_FOUND, body = ErrorBody),
        (status = 408, description = APP_REQUEST_TIMEOUT, body = ErrorBody),
        (status = 413, description = APP_TOO_LARGE, body = ErrorBody),
        (status = 500, description = APP_FAILED, body = ErrorBody),
        (status = 502, description = APP_RESPONSE_TOO_LARGE, body = ErrorBody),
        (status = 503, description = APP_UNAVAILABLE, body = ErrorBody),
        (status = 504, description = APP_DEADLINE, body = ErrorBody),
    )
)]
pub async fn dispatch_frame(State(citadel): State<Arc<Citadel>>, request: Request) -> Response {
    let page = wants_page(request.headers());
    let path = request.uri().path().to_string();
    let parsed = path.strip_prefix("/f/").and_then(|p| {
        let (token, rest) = p.split_once("/apps/")?;
        let (app_id, rest) = rest.split_once('/')?;
        Some((token, app_id, rest))
    });
    let Some((token, app_id, rest)) = parsed else {
        return ApiError::not_found("not_found", "no such path").answer(page, true);
    };
    let session = match citadel.frames.session_for(token, app_id).await {
        Ok(session) => session,
        Err(e) => return ApiError::from(e).answer(page, true),
    };
    let Some((session_key, session)) = session else {
        return frame_message(
            &serde_json::json!({ "type": "citadel:expired" }),
            "Phiên đã hết hạn. / This session has expired.",
        );
    };
    let citizen = citadel
        .citizen_of(&session)
        .map(|citizen| (citizen, session_key));
    let mount = Mount {
        app_id: app_id.to_string(),
        rest: rest.to_string(),
        base_path: format!("/f/{token}/apps/{app_id}"),
        frame: true,
    };
    serve(citadel, request, mount, citizen, page).await
}

/// Serve `request` with the app's live version; the answer (or refusal, a
/// page when a browser loads one: `page`) names that version for the access
/// log.
async fn serve(
    citadel: Arc<Citadel>,
    request: Request,
    mount: Mount,
    citizen: Option<(crate::identity::citizens::Citizen, SessionKey)>,
    page: bool,
) -> Response {
    let in_frame = mount.frame;
    let mut served_by = None;
    let answered = answer(citadel, request, mount, citizen, page, &mut served_by).await;
    let mut response = match answered {
        Ok(response) => response,
        Err(e) => e.answer(page, in_frame),
    };
    if let Some(app) = served_by {
        response.extensions_mut().insert(ServedBy(app));
    }
    response
}

async fn answer(
    citadel: Arc<Citadel>,
    request: Request,
    mount: Mount,
    citizen: Option<(crate::identity::citizens::Citizen, SessionKey)>,
    navigation: bool,
    served_by: &mut Option<Arc<AppContext>>,
) -> Result<Response, ApiError> {
    let Mount {
        app_id,
        rest,
        base_path,
        frame,
    } = mount;
    let app_id = app_id.as_str();
    // After consent the shell loads a page again, never resends a form.
    let retry = (request.method() == axum::http::Method::GET)
        .then(|| request.uri().path_and_query().map(|p| p.to_string()))
        .flatten();
    // The app knows the citizen only by the pairwise id for this app.
    let citizen = citizen.map(|(citizen, session)| SignedIn {
        position: None,
        pairwise_id: citadel.pairwise.pairwise_id(app_id, &citizen.id),
        citizen,
        session,
    });
    // Which version answers: a canary serves a stable share of callers,
    // bucketed by pairwise id, or by a host-set cookie for anonymous callers
    // (drawn by the registry for one without it, only while a canary runs).
    let caller_key = citizen
        .as_ref()
        .map(|c| c.pairwise_id.clone())
        .or_else(|| super::cookie(request.headers(), BUCKET_COOKIE));
    let (app, new_bucket_cookie) = match citadel.registry.route(app_id, caller_key.as_deref()) {
        Route::Serve { app, new_bucket } => (app, new_bucket),
        Route::NotFound => {
            return Err(ApiError::not_found(
                "app_not_found",
                format!("there is no app `{app_id}`"),
            ))
        }
        Route::Suspended(reason) => return Ok(suspended(app_id, &reason, navigation, frame)),
    };
    // Remembered only once an app serves them (a made-up app name must not
    // leave a record), so the app can later reach this citizen with
    // `notify.send-to`.
    if let Some(signed_in) = &citizen {
        citadel
            .pairwise
            .remember(
                app_id,
                &signed_in.citizen.id,
                &signed_in.pairwise_id,
                Some(&signed_in.session),
            )
            .await?;
    }
    *served_by = Some(app.context.clone());
    // The position is read only for a version that may ask for it.
    let citizen = match citizen {
        Some(mut signed_in)
            if app
                .context
                .has_capability(crate::capabilities::location::NAME) =>
        {
            signed_in.position = citadel.positions.current(&signed_in.citizen.id).await?;
            Some(signed_in)
        }
        other => other,
    };
    let guest_uri = guest_uri(
        citadel.public_url.as_ref(),
        request.headers(),
        &rest,
        request.uri().query(),
    );
    let request_id = current_request_id().unwrap_or_default();
    let (mut parts, body) = request.into_parts();
    let limit = app.context.limits.max_request_body;
    let announced = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|length| length > limit) {
        // Read (and drop) a moderately large body before answering, so the
        // client, still sending, gets the 413 instead of a reset connection.
        super::drain(body, DRAIN_LIMIT).await;
        return Err(crate::runtime::InvokeError::RequestTooLarge(limit).into());
    }
    parts.uri = guest_uri.parse().map_err(|_| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "the request path is not valid",
        )
    })?;
    strip_incoming(&mut parts.headers);
    parts
        .headers
        .insert(APP_VERSION_HEADER, app.version_header.clone());
    let mut host_headers = vec![
        (REQUEST_ID_HEADER, request_id.as_str()),
        (BASE_PATH_HEADER, base_path.as_str()),
    ];
    if let Some(signed_in) = &citizen {
        host_headers.push((CITIZEN_HEADER, &signed_in.pairwise_id));
        host_headers.push((LOCALE_HEADER, &signed_in.citizen.locale));
    }
    for (name, value) in host_headers {
        if let Ok(value) = HeaderValue::from_str(value) {
            parts.headers.insert(name, value);
        }
    }

    let personal = citizen.is_some();
    let started = std::time::Instant::now();
    let outcome = citadel
        .runtime
        .handle(
            &app,
            axum::http::Request::from_parts(parts, body),
            Caller {
                request_id,
                citizen,
            },
        )
        .await;
    let response = match outcome {
        Ok(response) => response,
        Err(error) => {
            if let Some(kind) = error.guest_failure_kind() {
                telemetry::guest_failure(app_id, kind);
            }
            let error = ApiError::from(error);
            app.metrics
                .request(error.status.as_u16(), started.elapsed());
            return Err(error);
        }
    };
    app.metrics
        .request(response.status().as_u16(), started.elapsed());
    let (mut parts, body) = response.into_parts();
    strip_outgoing(&mut parts.headers);
    if personal {
        keep_private(&mut parts.headers);
    }
    let consent_scopes = if parts.status == StatusCode::PRECONDITION_REQUIRED {
        add_consent_url(&app.context, &mut parts.headers)
    } else {
        Vec::new()
    };
    parts.headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    parts
        .headers
        .insert(APP_VERSION_HEADER, app.version_header.clone());
    if let Some(value) = new_bucket_cookie {
        let cookie = format!(
            "{BUCKET_COOKIE}={value}; Path=/apps/; HttpOnly; SameSite=Lax; Max-Age=31536000{}",
            super::secure_cookie_attribute(&citadel)
        );
        if let Ok(cookie) = HeaderValue::from_str(&cookie) {
            parts.headers.append(header::SET_COOKIE, cookie);
        }
    }
    // An app's pages get an opaque origin even when opened outside the
    // shell's sandboxed frame: their scripts cannot call the citizen API with
    // the citizen's cookie (a consent "given" by the app itself, say).
    parts.headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(if frame { FRAME_CSP } else { APP_CSP }),
    );
    if frame {
        // The frame's URL holds its token: never send it on as a referrer.
        parts.headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        if navigation {
            if let Some(message) = frame_request(&parts, &consent_scopes, retry) {
                return Ok(frame_message(&message, "…"));
            }
        }
    } else if navigation && !consent_scopes.is_empty() {
        // A page opened outside the shell (a shared link): the browser goes
        // to the host's consent page, and back to this page afterwards.
        if let Some(back) = &retry {
            let to = super::consent::consent_url(app_id, &consent_scopes, Some(back));
            return Ok((StatusCode::SEE_OTHER, [(header::LOCATION, to)]).into_response());
        }
    }
    Ok(Response::from_parts(parts, Body::new(body)))
}

/// An app page's policy in the shell's frame: as `APP_CSP`, and only the
/// host's own pages may frame it.
const FRAME_CSP: &str = "sandbox allow-scripts allow-forms allow-popups allow-modals allow-downloads; frame-ancestors 'self'";

/// What the shell must do for an app answer in its frame: ask for consent
/// (a 428 naming scopes) or show the host's payment page (a redirect to
/// `/pay/{id}`, optionally `?then=/path` to reopen in the app afterwards).
fn frame_request(
    parts: &axum::http::response::Parts,
    consent_scopes: &[String],
    retry: Option<String>,
) -> Option<serde_json::Value> {
    if !consent_scopes.is_empty() {
        let scopes = consent_scopes;
        return Some(
            serde_json::json!({ "type": "citadel:consent", "scopes": scopes, "retry": retry }),
        );
    }
    if parts.status.is_redirection() {
        let location = parts.headers.get(header::LOCATION)?.to_str().ok()?;
        let (path, query) = location.split_once('?').unwrap_or((location, ""));
        let intent = path.strip_prefix("/pay/")?;
        if intent.is_empty()
            || !intent
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return None;
        }
        let then = form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == "then")
            .map(|(_, v)| v.into_owned())
            .filter(|v| super::is_local_path(v));
        return Some(serde_json::json!({ "type": "citadel:pay", "intent": intent, "then": then }));
    }
    None
}

/// A tiny host page in the frame that tells the shell what to do (consent,
/// payment, an expired frame) by `postMessage`; the shell acts only on
/// messages from its own frame. A 200: the page itself loaded fine.
fn frame_message(message: &serde_json::Value, text: &str) -> Response {
    let nonce = hex::encode(rand::random::<[u8; 16]>());
    // JSON inside a script element: escape `<` so it cannot close the tag.
    let payload = message.to_string().replace('<', "\\u003c");
    let html = format!(
        "<!doctype html><html lang=\"vi\"><meta charset=utf-8><title>Citadel</title><p>{}</p><script nonce=\"{nonce}\">parent.postMessage({payload}, \"*\");</script>",
        super::html_escape(text)
    );
    let mut response = axum::response::Html(html).into_response();
    let csp = format!("sandbox allow-scripts; default-src 'none'; script-src 'nonce-{nonce}'; frame-ancestors 'self'");
    if let Ok(csp) = HeaderValue::from_str(&csp) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    response.headers_mut().insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// An app answered 428 naming scopes in `x-citadel-consent` (as the SDK's
/// `require_consent` does): point the shell at the host's consent page for
/// the personal scopes this app requests. Only the host writes this URL.
/// Returns those scopes (none: no consent to ask for).
fn add_consent_url(app: &crate::runtime::AppContext, headers: &mut HeaderMap) -> Vec<String> {
    let scopes: Vec<String> = headers
        .get(CONSENT_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .split([',', ' '])
        .filter(|scope| {
            crate::capabilities::needs_consent(scope) && app.requested.iter().any(|r| r == scope)
        })
        .map(String::from)
        .collect();
    if !scopes.is_empty() {
        if let Ok(url) = HeaderValue::from_str(&super::consent::consent_url(&app.id, &scopes, None))
        {
            headers.insert(CONSENT_URL_HEADER, url);
        }
    }
    scopes
}

/// Bytes of an oversized body read and dropped before a 413, at most.
const DRAIN_LIMIT: usize = 16 << 20;

/// The host's cookie that buckets an anonymous caller for rollouts.
const BUCKET_COOKIE: &str = "citadel_bucket";
/// The header naming the version that answers (to the app) and answered
/// (to the citizen).
const APP_VERSION_HEADER: HeaderName = HeaderName::from_static("x-citadel-app-version");
/// What the host tells the app about a request (it strips any the caller sent).
const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-citadel-request-id");
const BASE_PATH_HEADER: HeaderName = HeaderName::from_static("x-citadel-base-path");
const CITIZEN_HEADER: HeaderName = HeaderName::from_static("x-citadel-citizen");
const LOCALE_HEADER: HeaderName = HeaderName::from_static("x-citadel-locale");

/// The answer for a suspended app: a page naming the city's reason for a
/// browser loading one, JSON for the rest.
fn suspended(app: &str, reason: &str, page: bool, in_frame: bool) -> Response {
    let error = ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "app_suspended",
        format!("{app} is suspended by the city: {reason}"),
    );
    if page {
        error.page(Some(reason), in_frame)
    } else {
        error.into_response()
    }
}

/// The header in which an app's 428 answer names the scopes it needs.
const CONSENT_HEADER: HeaderName = HeaderName::from_static("x-citadel-consent");
/// The header in which the gateway gives the consent page's URL.
const CONSENT_URL_HEADER: HeaderName = HeaderName::from_static("x-citadel-consent-url");

/// The address the guest is told its request came to: `rest` (its path
/// below the app's mount) and `query` on the public URL when the host knows
/// it. Only without one does the client's `Host` header (when it is a valid
/// authority, else `localhost`) stand for it, over `http`: a client may put
/// anything there, and an app that builds absolute links from what it is
/// told must not be steered into linking citizens elsewhere.
fn guest_uri(
    public_url: Option<&PublicUrl>,
    headers: &HeaderMap,
    rest: &str,
    query: Option<&str>,
) -> String {
    let (query_mark, query) = match query {
        Some(query) => ("?", query),
        None => ("", ""),
    };
    match public_url {
        Some(public_url) => format!("{}/{rest}{query_mark}{query}", public_url.origin()),
        None => {
            let authority = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .filter(|h| h.parse::<axum::http::uri::Authority>().is_ok())
                .unwrap_or("localhost");
            format!("http://{authority}/{rest}{query_mark}{query}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guest_is_told_the_public_url_whatever_host_the_client_names() {
        let public_url = PublicUrl::parse("https://citadel.hue.gov.vn").unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("evil.example"));
        assert_eq!(
            guest_uri(Some(&public_url), &headers, "report/7", Some("lang=en")),
            "https://citadel.hue.gov.vn/report/7?lang=en"
        );
        assert_eq!(
            guest_uri(Some(&public_url), &HeaderMap::new(), "", None),
            "https://citadel.hue.gov.vn/"
        );
        // Without a public URL the Host header stands for it, when valid.
        assert_eq!(
            guest_uri(None, &headers, "a", None),
            "http://evil.example/a"
        );
        headers.insert(header::HOST, HeaderValue::from_static("a b/c"));
        assert_eq!(guest_uri(None, &headers, "a", None), "http://localhost/a");
        assert_eq!(
            guest_uri(None, &HeaderMap::new(), "", Some("q")),
            "http://localhost/?q"
        );
    }

    #[test]
    fn a_citizens_answer_is_never_kept_by_a_shared_cache() {
        let cache_control = |asked: Option<&'static str>| {
            let mut headers = HeaderMap::new();
            if let Some(asked) = asked {
                headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(asked));
            }
            keep_private(&mut headers);
            headers[header::CACHE_CONTROL].to_str().unwrap().to_string()
        };
        assert_eq!(cache_control(None), "private");
        assert_eq!(
            cache_control(Some("public, max-age=600, s-maxage=600")),
            "private, max-age=600"
        );
        assert_eq!(cache_control(Some("no-store")), "no-store");
        assert_eq!(
            cache_control(Some("Private, max-age=60")),
            "Private, max-age=60"
        );
        assert_eq!(cache_control(Some("PUBLIC")), "private");
    }

    fn headers_of(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, HeaderValue::from_static(value));
        }
        headers
    }

    fn names(headers: &HeaderMap) -> Vec<&str> {
        let mut names: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        names.sort_unstable();
        names
    }

    #[test]
    fn no_credential_hop_by_hop_or_host_header_reaches_a_guest() {
        let mut headers = headers_of(&[
            ("host", "citadel.hue.gov.vn"),
            ("authorization", "Bearer cit_s_secret"),
            ("proxy-authorization", "Basic eA=="),
            ("cookie", "citadel_session=cit_s_secret"),
            ("cookie", "other=1"),
            ("connection", "keep-alive, X-Trace"),
            ("connection", "upgrade"),
            ("keep-alive", "timeout=5"),
            ("proxy-connection", "keep-alive"),
            ("te", "trailers"),
            ("trailer", "expires"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "websocket"),
            ("x-trace", "named by connection"),
            ("x-citadel-citizen", "forged"),
            ("X-Citadel-Request-Id", "forged"),
            ("accept", "text/html"),
            ("accept", "application/json"),
            ("x-app-thing", "1"),
            ("content-length", "3"),
        ]);
        strip_incoming(&mut headers);
        assert_eq!(names(&headers), ["accept", "content-length", "x-app-thing"]);
        assert_eq!(headers.get_all(header::ACCEPT).iter().count(), 2);
    }

    #[test]
    fn a_guest_sends_only_what_describes_caches_or_redirects_its_answer() {
        let mut headers = headers_of(&[
            ("content-type", "text/plain"),
            ("content-length", "3"),
            ("cache-control", "max-age=60"),
            ("location", "/apps/hello/x"),
            ("x-app-thing", "1"),
            ("x-named", "named by connection"),
            ("connection", "x-named"),
            ("transfer-encoding", "chunked"),
            ("set-cookie", "citadel_session=stolen"),
            ("strict-transport-security", "max-age=0"),
            ("clear-site-data", "\"*\""),
            ("x-citadel-citizen", "forged"),
            ("www-authenticate", "Basic"),
        ]);
        strip_outgoing(&mut headers);
        assert_eq!(
            names(&headers),
            [
                "cache-control",
                "content-length",
                "content-type",
                "location",
                "x-app-thing"
            ]
        );
    }
}
