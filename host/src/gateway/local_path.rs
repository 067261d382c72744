//! The one rule for where the host sends a citizen back to (`return` of
//! `/pay/{id}`, `then` of an app's payment hand-off, `return` of `/consent`):
//! a path on this host, read the way a browser's URL parser reads it.
//! `host/assets/local-path.js` is the same rule for the pages' scripts.

/// Longest return path accepted.
const MAX_LEN: usize = 2048;
/// Percent-decoding layers looked through; a path still changing after
/// this many is refused.
const MAX_LAYERS: usize = 4;

/// Whether `path` is a path on this host (`/…`, with an optional query),
/// never another origin, whatever a browser or a later decoding does to it.
///
/// Refused: anything not starting with `/`; any control character (tab, CR
/// and LF included — a browser drops them, so `/\t/evil` becomes `//evil`)
/// and DEL; a backslash anywhere (browsers read it as `/`); a `//` or `/\`
/// start; a malformed `%` escape; and all of these again in every
/// percent-decoded form (`/%09/evil`, `/%2F/evil`, `/%5Cevil`, `/%252F…`).
pub fn is_local_path(path: &str) -> bool {
    if path.len() > MAX_LEN || !path.starts_with('/') {
        return false;
    }
    let mut layer = path.to_string();
    for _ in 0..=MAX_LAYERS {
        if !layer_is_safe(&layer) {
            return false;
        }
        let decoded = match decode(&layer) {
            Some(decoded) => decoded,
            None => return false,
        };
        if decoded == layer {
            return true;
        }
        layer = decoded;
    }
    false
}

/// One layer: no control character, no backslash, no second slash or
/// backslash right after the first.
fn layer_is_safe(layer: &str) -> bool {
    layer.starts_with('/')
        && !layer.starts_with("//")
        && !layer.starts_with("/\\")
        && !layer.chars().any(|c| c.is_control() || c == '\\')
}

/// `layer` with its `%XX` escapes decoded; `None` if an escape is
/// malformed or the result is not UTF-8 (as JavaScript's
/// `decodeURIComponent`, which throws on both).
fn decode(layer: &str) -> Option<String> {
    let bytes = layer.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::is_local_path;

    #[test]
    fn plain_paths_with_queries_are_local() {
        for path in [
            "/",
            "/#/app/tourism",
            "/#/app/tourism?path=%2Forders%2F12",
            "/apps/notes/",
            "/apps/tourism/orders/12?lang=en&x=1",
            "/pay/abc?return=%2F%23%2Fapp%2Fbills",
            "/đường/Lê%20Lợi",
            "/a//b",
        ] {
            assert!(is_local_path(path), "{path:?} is a path on this host");
        }
    }

    #[test]
    fn other_origins_and_browser_rewrites_are_refused() {
        for path in [
            "",
            "evil.example",
            "//evil.example",
            "/\\evil.example",
            "\\\\evil.example",
            "/\t/evil.example",
            "/\r/evil.example",
            "/\n/evil.example",
            "\t//evil.example",
            " //evil.example",
            "/ /evil.example\u{7f}",
            "/\u{7f}/evil.example",
            "/\u{85}/evil.example",
            "/apps\\..\\x",
            "/%09/evil.example",
            "/%0d/evil.example",
            "/%0A/evil.example",
            "/%2F/evil.example",
            "/%2f%2fevil.example",
            "/%5Cevil.example",
            "/%5cevil.example",
            "/ok?next=%5C",
            "/%252F/evil.example",
            "/%25252F%25252Fevil.example",
            "/%2",
            "/%zz",
            "/%FF",
            "https://evil.example/",
            "https:evil.example",
            "javascript:alert(1)",
            "JavaScript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
        ] {
            assert!(!is_local_path(path), "{path:?} must be refused");
        }
        assert!(!is_local_path(&format!("/{}", "a".repeat(4096))));
    }
}
