//! Static assets, built into the binary so the image needs no asset folder.
//! The tenant's brand colours are served as CSS (the page CSP allows no
//! inline styles).

use axum::{Router, extract::State, http::header, response::IntoResponse, routing::get};

use super::AppState;

const APP_CSS: &str = include_str!("../../templates/static/app.css");
const APP_JS: &str = include_str!("../../templates/static/app.js");

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/static/app.css",
            get(|| async {
                ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")], APP_CSS)
            }),
        )
        .route(
            "/static/app.js",
            get(|| async {
                ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")], APP_JS)
            }),
        )
        .route("/static/brand.css", get(brand))
}

async fn brand(State(state): State<AppState>) -> impl IntoResponse {
    // Colours passed the schema's #RRGGBB pattern, so they are safe in CSS.
    let b = &state.config.branding;
    let css = format!(":root {{ --brand: {}; --accent: {}; }}\n", b.primary_color, b.accent_color);
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=300")], css)
}
