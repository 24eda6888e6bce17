//! What stands between a request and the store: API-key roles, a token bucket per API key and
//! per address without a key (429), and a bound on requests in flight (503), each answering with
//! the gateway's JSON error.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use super::error::HttpError;
use super::Gateway;

/// What an API key may do. Browsing (events, seat maps) needs no key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// An application server acting for its customers (`user_id`): reserve, buy, read orders.
    App,
    /// Operators: everything an app may, plus events, sale status, seat blocks, cancellations.
    Admin,
}

/// The configured API keys and their roles.
#[derive(Debug, Default)]
pub struct Keys {
    roles: HashMap<String, Role>,
}

impl Keys {
    pub fn new(app: &[String], admin: &[String]) -> Keys {
        let mut roles = HashMap::new();
        roles.extend(app.iter().map(|k| (k.clone(), Role::App)));
        roles.extend(admin.iter().map(|k| (k.clone(), Role::Admin)));
        Keys { roles }
    }

    /// The caller's role, if it needs at least `needed`: 401 without a known key, 403 with a key of
    /// a lesser role.
    pub fn authorize(
        &self,
        headers: &HeaderMap,
        needed: Role,
        doing: &'static str,
    ) -> Result<Role, HttpError> {
        let role = bearer(headers)
            .and_then(|key| self.roles.get(key).copied())
            .ok_or(HttpError::Unauthenticated)?;
        if role < needed {
            return Err(HttpError::Forbidden(doing));
        }
        Ok(role)
    }
}

/// The key of an `Authorization: Bearer <key>` header.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// A short stable tag of the caller's API key (`anon` without one): 8 hex digits of its SHA-256.
pub fn caller_tag(headers: &HeaderMap) -> String {
    use sha2::{Digest, Sha256};
    match bearer(headers) {
        Some(key) => {
            let digest = Sha256::digest(key.as_bytes());
            digest[..4].iter().map(|b| format!("{b:02x}")).collect()
        }
        None => "anon".to_owned(),
    }
}

/// A token bucket per client (an API key, or an address).
#[derive(Debug)]
pub struct RateLimiter {
    per_s: f64,
    burst: f64,
    clients_max: usize,
    buckets: Mutex<HashMap<String, Bucket>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl RateLimiter {
    pub fn new(per_s: u32, burst: u32, clients_max: usize) -> RateLimiter {
        RateLimiter {
            per_s: f64::from(per_s),
            burst: f64::from(burst.max(1)),
            clients_max: clients_max.max(1),
            buckets: Mutex::default(),
        }
    }

    /// Takes one token from `client`'s bucket, or says how long until one is there.
    pub fn take(&self, client: &str, now: Instant) -> Result<(), HttpError> {
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if !buckets.contains_key(client) && buckets.len() >= self.clients_max {
            // Forget clients whose bucket has refilled: they lose nothing.
            let (per_s, burst) = (self.per_s, self.burst);
            buckets
                .retain(|_, b| b.tokens + now.duration_since(b.at).as_secs_f64() * per_s < burst);
            if buckets.len() >= self.clients_max {
                return Err(HttpError::RateLimited { retry_after_s: 1 });
            }
        }
        let bucket = buckets.entry(client.to_owned()).or_insert(Bucket {
            tokens: self.burst,
            at: now,
        });
        let refilled = bucket.tokens + now.duration_since(bucket.at).as_secs_f64() * self.per_s;
        bucket.tokens = refilled.min(self.burst);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return Ok(());
        }
        let wait_s = if self.per_s > 0.0 {
            ((1.0 - bucket.tokens) / self.per_s).ceil()
        } else {
            60.0
        };
        Err(HttpError::RateLimited {
            retry_after_s: (wait_s as u64).max(1),
        })
    }
}

/// Extractor: the caller holds an `app` or `admin` key (checked before the body is read).
#[derive(Debug, Clone, Copy)]
pub struct AppKey;

/// Extractor: the caller holds an `admin` key (checked before the body is read).
#[derive(Debug, Clone, Copy)]
pub struct AdminKey;

impl FromRequestParts<Arc<Gateway>> for AppKey {
    type Rejection = HttpError;

    async fn from_request_parts(
        parts: &mut Parts,
        gateway: &Arc<Gateway>,
    ) -> Result<Self, Self::Rejection> {
        gateway
            .keys
            .authorize(&parts.headers, Role::App, "act for buyers")
            .map(|_| AppKey)
    }
}

impl FromRequestParts<Arc<Gateway>> for AdminKey {
    type Rejection = HttpError;

    async fn from_request_parts(
        parts: &mut Parts,
        gateway: &Arc<Gateway>,
    ) -> Result<Self, Self::Rejection> {
        gateway
            .keys
            .authorize(&parts.headers, Role::Admin, "use admin operations")
            .map(|_| AdminKey)
    }
}

/// Middleware: 429 past the key's or address's rate, 503 past the node's requests in flight.
pub async fn admit(State(gateway): State<Arc<Gateway>>, request: Request, next: Next) -> Response {
    let limited = match bearer(request.headers()) {
        Some(key) => gateway.key_rate.take(key, Instant::now()),
        None => {
            let peer = request.extensions().get::<ConnectInfo<SocketAddr>>();
            let address = peer.map_or_else(|| "unknown".to_owned(), |c| c.0.ip().to_string());
            gateway.address_rate.take(&address, Instant::now())
        }
    };
    if let Err(limited) = limited {
        return limited.into_response();
    }
    let Ok(_permit) = Semaphore::try_acquire(&gateway.in_flight) else {
        return HttpError::Overloaded.into_response();
    };
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_client_gets_its_burst_then_its_rate() {
        let limiter = RateLimiter::new(10, 3, 100);
        let start = Instant::now();
        for _ in 0..3 {
            limiter.take("a", start).unwrap();
        }
        assert!(matches!(
            limiter.take("a", start),
            Err(HttpError::RateLimited { retry_after_s: 1 })
        ));
        // Another client has its own bucket.
        limiter.take("b", start).unwrap();
        // A tenth of a second later, one token is back.
        limiter
            .take("a", start + Duration::from_millis(100))
            .unwrap();
        assert!(limiter
            .take("a", start + Duration::from_millis(100))
            .is_err());
    }

    #[test]
    fn the_table_of_clients_is_bounded_and_forgets_idle_ones() {
        let limiter = RateLimiter::new(10, 2, 2);
        let start = Instant::now();
        limiter.take("a", start).unwrap();
        limiter.take("b", start).unwrap();
        assert!(limiter.take("c", start).is_err(), "the table is full");
        // A second later a and b have refilled and are forgotten to make room.
        limiter.take("c", start + Duration::from_secs(1)).unwrap();
    }

    #[test]
    fn roles_are_checked_by_key() {
        let keys = Keys::new(&["app-key".into()], &["admin-key".into()]);
        let with = |key: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(
                header::AUTHORIZATION,
                format!("Bearer {key}").parse().unwrap(),
            );
            headers
        };
        assert_eq!(
            keys.authorize(&with("app-key"), Role::App, "reserve")
                .unwrap(),
            Role::App
        );
        assert!(matches!(
            keys.authorize(&with("app-key"), Role::Admin, "create events"),
            Err(HttpError::Forbidden(_))
        ));
        assert_eq!(
            keys.authorize(&with("admin-key"), Role::App, "reserve")
                .unwrap(),
            Role::Admin
        );
        assert!(matches!(
            keys.authorize(&with("forged"), Role::App, "reserve"),
            Err(HttpError::Unauthenticated)
        ));
        assert!(matches!(
            keys.authorize(&HeaderMap::new(), Role::App, "reserve"),
            Err(HttpError::Unauthenticated)
        ));
    }
}
