// Server-rendered HTML for mini-apps: escaping, the two-language helper and
// a mobile-first page frame with the platform's base styles inline — the
// same look as the Rust SDK's `html` module and the shell.

/** Escape text for HTML element content and quoted attribute values. */
export function escape(text: string): string {
  return text.replace(/[&<>"']/g, (c) =>
    c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '"' ? '&quot;' : '&#39;',
  );
}

/** The text for `lang`: `en` picks the English one, anything else Vietnamese. */
export function t(lang: string, vi: string, en: string): string {
  return lang === 'en' ? en : vi;
}

/** Base styles: readable at 360 px, large touch targets, visible focus, contrast ≥ 4.5:1. */
const BASE_CSS =
  '*{box-sizing:border-box}' +
  "body{margin:0;font:16px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1a1a1a;background:#f6f7f9}" +
  'header{background:#5b2a86;color:#fff;padding:12px 16px}' +
  'header h1{margin:0;font-size:1.25rem}' +
  'header nav a{color:#fff;margin-right:12px}' +
  'main{max-width:960px;margin:0 auto;padding:12px 16px 48px}' +
  'a{color:#4a1f70}' +
  'a:focus,button:focus,input:focus,select:focus,textarea:focus{outline:3px solid #f0a500;outline-offset:2px}' +
  '.card{background:#fff;border:1px solid #d9dce1;border-radius:8px;padding:12px 14px;margin:10px 0}' +
  'label{display:block;font-weight:600;margin:12px 0 4px}' +
  'input,select,textarea{width:100%;font:inherit;padding:10px;border:1px solid #8a8f98;border-radius:6px;background:#fff}' +
  'button,.button{display:inline-block;font:inherit;font-weight:600;padding:10px 16px;min-height:44px;border:0;border-radius:6px;background:#5b2a86;color:#fff;cursor:pointer;text-decoration:none}' +
  '.muted{color:#555}' +
  '.badge{display:inline-block;padding:2px 8px;border-radius:12px;background:#e8e0f0;color:#3b1a57;font-size:.85rem}' +
  'table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:6px;border-bottom:1px solid #d9dce1}' +
  'ul.plain{list-style:none;padding:0}' +
  '@media(min-width:720px){.columns{display:grid;grid-template-columns:1fr 1fr;gap:16px}}';

/**
 * A whole page: `lang` is `vi` or `en`; `title` is text (escaped here),
 * `nav` and `body` are HTML.
 */
export function page(lang: string, title: string, nav: string, body: string): string {
  return (
    `<!doctype html><html lang="${escape(lang)}"><head><meta charset="utf-8">` +
    '<meta name="viewport" content="width=device-width, initial-scale=1">' +
    `<title>${escape(title)}</title><style>${BASE_CSS}</style></head>` +
    `<body><header><h1>${escape(title)}</h1><nav>${nav}</nav></header><main>${body}</main></body></html>`
  );
}

/** An amount of đồng as Vietnamese write it: `150000` → `150.000 ₫`. */
export function vnd(amount: number): string {
  return `${Math.trunc(amount).toString().replace(/\B(?=(\d{3})+(?!\d))/g, '.')} ₫`;
}
