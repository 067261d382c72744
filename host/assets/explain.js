// What a citizen is told of a refusal by the host, on every page with a
// script (the shell, the payment and consent pages): the error body's
// explanation, from the host's one catalogue (host/src/gateway/error.rs),
// in the page's language, with the request code for support. The API's
// `message` is for developers.
'use strict';
(function () {
  /** `error` is an error body's `error`, `lang` `vi` or `en`, `label` the
   *  words before the request code; null without an explanation. */
  function explain(error, lang, label) {
    const explanation = error && error.explanation;
    if (!explanation) return null;
    const pick = (text) => text[lang] || text.vi;
    const code = error.request_id ? ` ${label}: ${error.request_id}.` : '';
    return `${pick(explanation.title)}. ${pick(explanation.next)}${code}`;
  }

  Object.defineProperty(window, 'citadelExplain', { value: explain, writable: false, configurable: false });
})();
