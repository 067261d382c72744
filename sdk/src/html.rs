//! Server-rendered HTML for mini-apps: escaping, and a mobile-first page
//! frame with the platform's base styles inline (apps load nothing from a
//! CDN; the host's CSP sandboxes them anyway).

/// Escape text for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Percent-encode a URL path segment or query value (all but letters and
/// digits).
pub fn encode(value: &str) -> String {
    percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// One step of a record's history as a list item: when, what, and the
/// note if any (escaped here).
pub fn history_item(at_ms: u64, label: &str, note: Option<&str>) -> String {
    format!(
        "<li>{} — {}{}</li>",
        vietnam_time(at_ms),
        escape(label),
        note.map(|n| format!(": {}", escape(n))).unwrap_or_default()
    )
}

/// A 1–5 satisfaction form posting `rating` to `action` (an escaped URL).
pub fn rating_form(action: &str, question: &str, button: &str) -> String {
    format!(
        "<form method=\"post\" action=\"{action}\" class=\"card\"><label for=\"rating\">{}</label>\
         <select id=\"rating\" name=\"rating\"><option>5</option><option>4</option><option>3</option><option>2</option><option>1</option></select>\
         <p><button>{}</button></p></form>",
        escape(question),
        escape(button)
    )
}

/// The text for `lang`: `en` picks the English one, anything else Vietnamese.
pub fn t(lang: &str, vi: &'static str, en: &'static str) -> &'static str {
    if lang == "en" {
        en
    } else {
        vi
    }
}

/// Base styles: readable at 360 px, large touch targets, visible focus,
/// contrast at least 4.5:1.
const BASE_CSS: &str = "\
*{box-sizing:border-box}\
body{margin:0;font:16px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1a1a1a;background:#f6f7f9}\
header{background:#5b2a86;color:#fff;padding:12px 16px}\
header h1{margin:0;font-size:1.25rem}\
header nav a{color:#fff;margin-right:12px}\
main{max-width:960px;margin:0 auto;padding:12px 16px 48px}\
a{color:#4a1f70}\
a:focus,button:focus,input:focus,select:focus,textarea:focus{outline:3px solid #f0a500;outline-offset:2px}\
.card{background:#fff;border:1px solid #d9dce1;border-radius:8px;padding:12px 14px;margin:10px 0}\
label{display:block;font-weight:600;margin:12px 0 4px}\
input,select,textarea{width:100%;font:inherit;padding:10px;border:1px solid #8a8f98;border-radius:6px;background:#fff}\
button,.button{display:inline-block;font:inherit;font-weight:600;padding:10px 16px;min-height:44px;border:0;border-radius:6px;background:#5b2a86;color:#fff;cursor:pointer;text-decoration:none}\
.muted{color:#555}\
.badge{display:inline-block;padding:2px 8px;border-radius:12px;background:#e8e0f0;color:#3b1a57;font-size:.85rem}\
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:6px;border-bottom:1px solid #d9dce1}\
svg.map{width:100%;height:auto;background:#e9f1f7;border-radius:8px}\
svg.map .ward{fill:#fff;stroke:#9aa5b1;stroke-width:1}\
svg.map circle{stroke:#fff;stroke-width:1}\
ul.plain{list-style:none;padding:0}\
@media(min-width:720px){.columns{display:grid;grid-template-columns:1fr 1fr;gap:16px}}";

/// A whole page: `lang` is `vi` or `en`; `title` and `nav` are already
/// escaped HTML fragments' text (title is escaped here), `body` is HTML.
pub fn page(lang: &str, title: &str, nav: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"{lang}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><style>{BASE_CSS}</style></head>\
         <body><header><h1>{title}</h1><nav>{nav}</nav></header><main>{body}</main></body></html>",
        lang = escape(lang),
        title = escape(title),
    )
}

/// An amount of đồng as Vietnamese write it: `150000` → `150.000 ₫`.
pub fn vnd(amount: u64) -> String {
    let digits = amount.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('.');
        }
        out.push(c);
    }
    format!("{out} ₫")
}

/// Unix milliseconds as `dd/mm/yyyy HH:MM` in Vietnam's time (Huế's zone,
/// UTC+7); see [`crate::time`].
pub fn vietnam_time(unix_ms: u64) -> String {
    crate::time::datetime_text(unix_ms)
}

/// Unix milliseconds as `dd/mm/yyyy` in Vietnam's time.
pub fn vietnam_date(unix_ms: u64) -> String {
    crate::time::date_text(unix_ms)
}

/// Unix milliseconds as ISO 8601 in Vietnam's time, e.g.
/// `2026-10-20T09:15:00+07:00` (its first 10 characters are the date).
pub fn vietnam_iso(unix_ms: u64) -> String {
    crate::time::iso(unix_ms)
}

#[cfg(test)]
mod tests {
    #[test]
    fn amounts_group_thousands_with_dots() {
        assert_eq!(super::vnd(150_000), "150.000 ₫");
        assert_eq!(super::vnd(1_200_000), "1.200.000 ₫");
        assert_eq!(super::vnd(500), "500 ₫");
    }

    #[test]
    fn times_are_shown_in_vietnam() {
        // 2026-11-23T17:30:00Z is 00:30 on the 24th in Huế.
        assert_eq!(vietnam_time(1_795_455_000_000), "24/11/2026 00:30");
        assert_eq!(vietnam_time(0), "01/01/1970 07:00");
        assert_eq!(vietnam_date(1_795_455_000_000), "24/11/2026");
        assert_eq!(
            super::vietnam_iso(1_795_455_000_000),
            "2026-11-24T00:30:00+07:00"
        );
    }

    use super::*;

    #[test]
    fn escaping_covers_markup_and_both_quotes() {
        assert_eq!(
            escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn a_page_loads_nothing_from_elsewhere() {
        let html = page("vi", "Bản đồ <số>", "", "<p>x</p>");
        assert!(html.contains("<title>Bản đồ &lt;số&gt;</title>"));
        assert!(!html.contains("http://") && !html.contains("https://"));
    }
}
