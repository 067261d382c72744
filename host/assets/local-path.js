// The one rule for where a host page may send the citizen back to: a path on
// this host, read the way the browser's URL parser reads it. The same rule as
// host/src/gateway/local_path.rs (the server checks first; this checks again).
'use strict';
(function () {
  const MAX_LEN = 2048;
  const MAX_LAYERS = 4;
  // A control character (tab, CR and LF included: the browser drops them),
  // DEL, C1 controls, or a backslash (the browser reads it as `/`).
  const UNSAFE = /[\u0000-\u001f\u007f-\u009f\\]/;

  function layerIsSafe(layer) {
    return layer.startsWith('/') && !layer.startsWith('//') && !layer.startsWith('/\\') && !UNSAFE.test(layer);
  }

  /** Whether `path` is a path on this host (`/…`, with an optional query),
   *  never another origin, in every percent-decoded form. */
  function isLocalPath(path) {
    if (typeof path !== 'string' || path.length > MAX_LEN || !path.startsWith('/')) return false;
    let layer = path;
    for (let i = 0; i <= MAX_LAYERS; i += 1) {
      if (!layerIsSafe(layer)) return false;
      let decoded;
      try { decoded = decodeURIComponent(layer); } catch (e) { return false; }
      if (decoded === layer) return true;
      layer = decoded;
    }
    return false;
  }

  Object.defineProperty(window, 'citadelIsLocalPath', { value: isLocalPath, writable: false, configurable: false });
})();
