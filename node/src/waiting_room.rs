//! The waiting room's secret at the node: the pre-sale rank of a join (a keyed hash of the event and
//! the customer, so a retry through any node is the same command, and nobody can choose or predict
//! a rank), and the signed tokens buyers carry: a queue token (which place to look up) and an access
//! token (admitted to hold until it expires). The rules of the room are the state machine's.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use boxoffice_statemachine::{CustomerId, EventId};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// Longest token accepted, in bytes.
pub const TOKEN_BYTES_MAX: usize = 1_024;

/// What a token lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenKind {
    /// Read one customer's place in one event's waiting room.
    Queue,
    /// Hold seats of one event for one customer until `expires_at_ms`.
    Access,
}

/// A token's signed contents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Token {
    pub kind: TokenKind,
    pub event: String,
    pub customer: String,
    /// Ms since the Unix epoch; 0 for a queue token, which does not expire.
    pub expires_at_ms: u64,
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is malformed")]
    Malformed,
    #[error("the token's signature is not valid")]
    Forged,
    #[error("this is not a {0:?} token")]
    WrongKind(TokenKind),
    #[error("the token is for another event or customer")]
    NotYours,
    #[error("the token expired")]
    Expired,
}

/// The cluster's waiting-room secret.
#[derive(Clone)]
pub struct RoomKey {
    key: Vec<u8>,
}

impl std::fmt::Debug for RoomKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RoomKey(..)")
    }
}

impl RoomKey {
    /// The key of a configured secret; `None` when the waiting room is not configured.
    pub fn new(secret: &str) -> Option<RoomKey> {
        (!secret.is_empty()).then(|| RoomKey {
            key: secret.as_bytes().to_vec(),
        })
    }

    fn mac(&self, purpose: &str, parts: &[&[u8]]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(purpose.as_bytes());
        for part in parts {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac
    }

    /// `customer`'s place in `event`'s pre-sale shuffle.
    pub fn rank(&self, event: &EventId, customer: &CustomerId) -> u64 {
        let digest = self
            .mac(
                "boxoffice-rank-v1",
                &[event.as_str().as_bytes(), customer.as_str().as_bytes()],
            )
            .finalize()
            .into_bytes();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        u64::from_be_bytes(first)
    }

    /// The token's text: its contents and their signature, both base64url.
    pub fn sign(&self, token: &Token) -> String {
        let body = URL_SAFE_NO_PAD.encode(
            serde_json::to_vec(token).unwrap_or_else(|_| unreachable!("a token serializes")),
        );
        let signature = self
            .mac("boxoffice-token-v1", &[body.as_bytes()])
            .finalize()
            .into_bytes();
        format!("{body}.{}", URL_SAFE_NO_PAD.encode(signature))
    }

    /// The contents of a token this cluster signed.
    pub fn open(&self, text: &str) -> Result<Token, TokenError> {
        if text.len() > TOKEN_BYTES_MAX {
            return Err(TokenError::Malformed);
        }
        let (body, signature) = text.split_once('.').ok_or(TokenError::Malformed)?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| TokenError::Malformed)?;
        self.mac("boxoffice-token-v1", &[body.as_bytes()])
            .verify_slice(&signature)
            .map_err(|_| TokenError::Forged)?;
        let bytes = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| TokenError::Malformed)?;
        serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed)
    }

    /// A token of `kind` for `event` and `customer`, valid at `now_ms`.
    pub fn check(
        &self,
        text: &str,
        kind: TokenKind,
        event: &EventId,
        customer: Option<&CustomerId>,
        now_ms: u64,
    ) -> Result<Token, TokenError> {
        let token = self.open(text)?;
        if token.kind != kind {
            return Err(TokenError::WrongKind(kind));
        }
        let customer_matches = customer.is_none_or(|c| c.as_str() == token.customer);
        if token.event != event.as_str() || !customer_matches {
            return Err(TokenError::NotYours);
        }
        if kind == TokenKind::Access && now_ms >= token.expires_at_ms {
            return Err(TokenError::Expired);
        }
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> RoomKey {
        RoomKey::new("a-waiting-room-secret").unwrap()
    }

    fn access(event: &str, customer: &str, expires_at_ms: u64) -> Token {
        Token {
            kind: TokenKind::Access,
            event: event.into(),
            customer: customer.into(),
            expires_at_ms,
        }
    }

    fn ids(event: &str, customer: &str) -> (EventId, CustomerId) {
        (
            EventId::new(event).unwrap(),
            CustomerId::new(customer).unwrap(),
        )
    }

    #[test]
    fn a_signed_token_opens_only_for_its_event_customer_kind_and_time() {
        let (tour, ada) = ids("tour", "ada");
        let text = key().sign(&access("tour", "ada", 10_000));
        assert!(key()
            .check(&text, TokenKind::Access, &tour, Some(&ada), 9_999)
            .is_ok());
        assert_eq!(
            key().check(&text, TokenKind::Access, &tour, Some(&ada), 10_000),
            Err(TokenError::Expired)
        );
        let (other, bob) = ids("other", "bob");
        assert_eq!(
            key().check(&text, TokenKind::Access, &other, Some(&ada), 0),
            Err(TokenError::NotYours)
        );
        assert_eq!(
            key().check(&text, TokenKind::Access, &tour, Some(&bob), 0),
            Err(TokenError::NotYours)
        );
        assert_eq!(
            key().check(&text, TokenKind::Queue, &tour, Some(&ada), 0),
            Err(TokenError::WrongKind(TokenKind::Queue))
        );
    }

    #[test]
    fn forged_and_altered_tokens_are_refused() {
        let (tour, ada) = ids("tour", "ada");
        let other_key = RoomKey::new("another-cluster-secret").unwrap();
        let forged = other_key.sign(&access("tour", "ada", u64::MAX));
        assert_eq!(
            key().check(&forged, TokenKind::Access, &tour, Some(&ada), 0),
            Err(TokenError::Forged)
        );
        // Lengthen the expiry inside a genuine token: the signature no longer matches.
        let genuine = key().sign(&access("tour", "ada", 1));
        let (_, signature) = genuine.split_once('.').unwrap();
        let body =
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&access("tour", "ada", u64::MAX)).unwrap());
        let altered = format!("{body}.{signature}");
        assert_eq!(
            key().check(&altered, TokenKind::Access, &tour, Some(&ada), 0),
            Err(TokenError::Forged)
        );
        for junk in ["", ".", "abc", "a.b", &"x".repeat(TOKEN_BYTES_MAX + 1)] {
            assert!(key().open(junk).is_err(), "{junk:?}");
        }
    }

    #[test]
    fn ranks_are_stable_per_customer_and_keyed_by_the_secret() {
        let (tour, ada) = ids("tour", "ada");
        let (_, bob) = ids("tour", "bob");
        assert_eq!(key().rank(&tour, &ada), key().rank(&tour, &ada));
        assert_ne!(key().rank(&tour, &ada), key().rank(&tour, &bob));
        let other_key = RoomKey::new("another-cluster-secret").unwrap();
        assert_ne!(key().rank(&tour, &ada), other_key.rank(&tour, &ada));
    }
}
