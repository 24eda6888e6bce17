//! A buyer's path through the client crate: put a small club night on sale, hold two seats by
//! best available, buy them, and read the order back linearizably. Against a local cluster:
//!
//! ```sh
//! cluster-scripts/start-local.sh
//! cargo run -p boxoffice-client --example quickstart -- 127.0.0.1:7081 127.0.0.1:7082
//! ```
//!
//! The node's tests run [`quickstart`] against three real `boxofficed` processes.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use boxoffice_client::{Client, ClientOptions, Consistency};
use boxoffice_statemachine::{fixtures, CustomerId, Effect, Outcome, Scope, Selection};

/// What the buyer ended up with.
#[derive(Debug)]
pub struct Bought {
    pub event: String,
    pub order: String,
    /// Ticket ids, `{order}~t{n}`.
    pub tickets: Vec<String>,
    pub amount_cents: u64,
}

/// Creates an event, holds two seats in the "Floor" tier, buys them and reads the order back.
pub async fn quickstart(endpoints: &[String]) -> anyhow::Result<Bought> {
    let client = Client::connect(endpoints, ClientOptions::default())?;

    // An event on sale from now for a day: the club fixture, 20 seats and a pit of 10.
    let now_ms = u64::try_from(SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis())?;
    let mut spec = fixtures::club(&format!("club-{now_ms}"));
    spec.on_sale_at_ms = now_ms;
    spec.off_sale_at_ms = now_ms + fixtures::HOUR_MS * 24;
    spec.starts_at_ms = spec.off_sale_at_ms + fixtures::HOUR_MS;
    let created = client
        .create_event(&client.new_request_id(), &spec, false)
        .await?;
    if let Outcome::Rejected(why) = created.outcome {
        bail!("event refused: {}", why.code());
    }

    // Every command carries a request id: retrying it (the client does, on timeouts and leader
    // changes) applies it at most once.
    let ada = CustomerId::new("ada")?;
    let pick = Selection::BestAvailable {
        scope: Scope::Tier("Floor".into()),
        quantity: 2,
    };
    let hold = match client
        .hold(&client.new_request_id(), &spec.id, &ada, &pick, None)
        .await?
        .outcome
    {
        Outcome::Accepted(Effect::Held(hold)) => hold,
        Outcome::Rejected(why) => bail!("hold refused: {}", why.code()),
        other => bail!("unexpected hold outcome {other:?}"),
    };
    let order = match client
        .buy(&client.new_request_id(), &hold.id, &ada, "psp-ref-0001")
        .await?
        .outcome
    {
        Outcome::Accepted(Effect::Bought(order)) => order,
        Outcome::Rejected(why) => bail!("buy refused: {}", why.code()),
        other => bail!("unexpected buy outcome {other:?}"),
    };

    // A linearizable read sees every acknowledged write, whichever node serves it.
    let read = client
        .get_order(&order.id, Consistency::Linearizable)
        .await?
        .order
        .context("the order just bought is missing")?;
    Ok(Bought {
        event: spec.id.to_string(),
        order: read.order_id,
        tickets: order
            .tickets
            .iter()
            .map(|t| t.id(&order.id).to_string())
            .collect(),
        amount_cents: order.amount_cents,
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut endpoints: Vec<String> = std::env::args().skip(1).collect();
    if endpoints.is_empty() {
        endpoints.push("127.0.0.1:7081".into());
    }
    let bought = quickstart(&endpoints).await?;
    println!(
        "{}: order {}, tickets {} ({} cents)",
        bought.event,
        bought.order,
        bought.tickets.join(", "),
        bought.amount_cents
    );
    Ok(())
}
