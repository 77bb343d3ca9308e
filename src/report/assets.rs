//! The charting library, compiled in: Vega, Vega-Lite and vega-embed as
//! published on npm (minified UMD bundles, BSD-3-Clause; the licenses sit
//! beside them), so a report opens offline and the live pages load nothing
//! from outside the server.

/// vega 6.4.0 (`build/vega.min.js`).
pub const VEGA: &str = include_str!("assets/vega-6.4.0.min.js");
/// vega-lite 6.5.0 (`build/vega-lite.min.js`).
pub const VEGA_LITE: &str = include_str!("assets/vega-lite-6.5.0.min.js");
/// vega-embed 7.3.0 (`build/vega-embed.min.js`).
pub const VEGA_EMBED: &str = include_str!("assets/vega-embed-7.3.0.min.js");

/// The three licenses, for the report's footer comment and `/assets/LICENSES`.
pub const LICENSES: &str = concat!(
    "vega 6.4.0\n",
    include_str!("assets/LICENSE-vega"),
    "\nvega-lite 6.5.0\n",
    include_str!("assets/LICENSE-vega-lite"),
    "\nvega-embed 7.3.0\n",
    include_str!("assets/LICENSE-vega-embed"),
);

/// The bundles in load order, by the name the live server serves them under.
pub const SCRIPTS: [(&str, &str); 3] = [
    ("vega.min.js", VEGA),
    ("vega-lite.min.js", VEGA_LITE),
    ("vega-embed.min.js", VEGA_EMBED),
];

/// A bundle without its trailing `sourceMappingURL` comment: the map is
/// not shipped, and a browser with developer tools open would ask for it.
pub fn script(text: &str) -> &str {
    match text.rfind("\n//# sourceMappingURL=") {
        Some(at) => &text[..at],
        None => text,
    }
}
