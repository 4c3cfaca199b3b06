//! Page chrome: what every page's frame (`base.html`, `nav.html`) reads —
//! the tenant's name, the path prefix, who is signed in and the form token.
//! A page holds one `Chrome` in a field named `chrome` and reaches its fields
//! as its own through [`chromed!`], so a new page cannot forget one.

use super::{AppState, session::Session};

/// The frame's fields, built once per page.
pub struct Chrome {
    pub base: String,
    pub tenant_name: String,
    /// The signed-in operator's name; empty on public pages.
    pub operator: String,
    pub role: &'static str,
    pub csrf: String,
}

impl Chrome {
    /// The chrome of a page behind sign-in.
    pub fn signed_in(state: &AppState, s: &Session) -> Self {
        Self {
            base: state.base.to_string(),
            tenant_name: state.config.tenant.name.clone(),
            operator: s.operator.display_name.clone(),
            role: s.operator.role.label(),
            csrf: s.csrf.clone(),
        }
    }

    /// The chrome of a public page (sign-in, a buyer's quote, unsubscribe):
    /// no operator; `csrf` is the page's own form token, if it has a form.
    pub fn public(state: &AppState, csrf: String) -> Self {
        Self { base: state.base.to_string(), tenant_name: state.config.tenant.name.clone(), operator: String::new(), role: "", csrf }
    }
}

/// Lets each page type read its `chrome` field's fields as its own, which is
/// what the templates' frame does (`{{ base }}`, `{{ tenant_name }}`…).
macro_rules! chromed {
    ($($page:ty),* $(,)?) => {$(
        impl std::ops::Deref for $page {
            type Target = $crate::web::chrome::Chrome;
            fn deref(&self) -> &$crate::web::chrome::Chrome {
                &self.chrome
            }
        }
    )*};
}
pub(super) use chromed;
