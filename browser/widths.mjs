// The viewports every page is checked at, one home for them: the phone of
// issue 18 (390×844) and a desktop. Imported by browser/run.mjs and the
// scenarios (which cannot import run.mjs: that would run the harness again).

export const WIDTHS = { mobile: { width: 390, height: 844 }, desktop: { width: 1280, height: 800 } };
