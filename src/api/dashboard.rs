//! The dashboard at `/`: one HTML page, its stylesheet and its script, compiled into the binary (no build step, no
//! external resource), which read the JSON API and follow `GET /api/events`. The script puts every string from the
//! hive into the page as text, never as HTML; the Content-Security-Policy allows nothing but this server's own
//! script, style and requests, so even a mistake there could not run a repository's text as code.

use axum::{
    http::header,
    response::{IntoResponse, Response},
};

const PAGE: &str = include_str!("dashboard/index.html");
const STYLE: &str = include_str!("dashboard/dashboard.css");
const SCRIPT: &str = include_str!("dashboard/dashboard.js");

/// Only this origin's script, style, requests and images; no inline code, no frames, no forms.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; \
                      base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// `GET /`.
pub(super) async fn page() -> Response {
    asset("text/html; charset=utf-8", PAGE)
}

/// `GET /dashboard.css`.
pub(super) async fn style() -> Response {
    asset("text/css; charset=utf-8", STYLE)
}

/// `GET /dashboard.js`.
pub(super) async fn script() -> Response {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

fn asset(kind: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CONTENT_SECURITY_POLICY, POLICY),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            // The assets change with the binary; a browser asks again rather than keep an old script.
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The script never hands data to an HTML parser: no `innerHTML`, `outerHTML`, `insertAdjacentHTML`,
    /// `document.write` or `eval` anywhere in it.
    #[test]
    fn the_script_has_no_html_sinks() {
        for sink in ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"] {
            assert!(!SCRIPT.contains(sink), "the dashboard's script uses {sink}");
        }
    }

    /// Nothing is loaded from elsewhere and nothing is inline, as the policy demands.
    #[test]
    fn the_page_loads_only_its_own_assets() {
        assert!(!PAGE.contains("http://") && !PAGE.contains("https://"), "an external resource in the page");
        assert!(!PAGE.contains("<script>") && !PAGE.contains("style="), "inline code in the page");
        assert!(PAGE.contains(r#"src="/dashboard.js""#) && PAGE.contains(r#"href="/dashboard.css""#));
        assert!(!STYLE.contains("url("), "the stylesheet loads something");
    }
}
