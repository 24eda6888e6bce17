//! The event, hold and order subcommands of boxctl: create events, change their status, list them,
//! show seat maps, hold / extend / release / buy, show and cancel orders.

use std::path::PathBuf;

use anyhow::{anyhow, bail, Context};
use boxoffice_client::{proto, Client, Consistency};
use boxoffice_statemachine::{
    fixtures, CustomerId, EventId, EventSpec, HoldId, OrderId, RequestId, Scope, SeatId, Selection,
    StatusChange,
};
use clap::Args;
use serde_json::{json, Value};

use crate::output::{self, counts_json, counts_text, enum_name, read_json, read_text};
use crate::{Exit, Global};

/// The optional request id of a command.
#[derive(Debug, Args)]
pub struct RequestIdArg {
    /// Request id (default: a fresh one). Reuse it to retry a command whose outcome is unknown.
    #[arg(long)]
    request_id: Option<String>,
}

impl RequestIdArg {
    fn resolve(&self, client: &Client) -> anyhow::Result<RequestId> {
        match &self.request_id {
            Some(id) => RequestId::new(id.clone()).map_err(|e| anyhow!("{e}")),
            None => Ok(client.new_request_id()),
        }
    }
}

fn event_id(text: &str) -> anyhow::Result<EventId> {
    EventId::new(text).map_err(|e| anyhow!("{e}"))
}

fn customer_id(text: &str) -> anyhow::Result<CustomerId> {
    CustomerId::new(text).map_err(|e| anyhow!("{e}"))
}

fn hold_id(text: &str) -> anyhow::Result<HoldId> {
    text.parse::<HoldId>().map_err(|e| anyhow!("{e}"))
}

fn order_id(text: &str) -> anyhow::Result<OrderId> {
    text.parse::<OrderId>().map_err(|e| anyhow!("{e}"))
}

#[derive(Debug, Args)]
pub struct CreateEventArgs {
    /// Event spec file, .toml or .json (the serde shape of EventSpec).
    file: PathBuf,
    /// Put the event on a group of its own.
    #[arg(long)]
    dedicated: bool,
    #[command(flatten)]
    request: RequestIdArg,
}

/// Reads an event spec from a .toml or .json file.
pub fn read_spec(path: &PathBuf) -> anyhow::Result<EventSpec> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let spec: EventSpec = match extension.as_str() {
        "toml" => toml::from_str(&text).with_context(|| format!("{}", path.display()))?,
        "json" => serde_json::from_str(&text).with_context(|| format!("{}", path.display()))?,
        other => bail!(
            "{}: unknown extension {other:?}; use .toml or .json",
            path.display()
        ),
    };
    spec.id.validate().map_err(|e| anyhow!("{e}"))?;
    Ok(spec)
}

async fn submit_create(
    global: &Global,
    spec: &EventSpec,
    dedicated: bool,
    request: &RequestIdArg,
) -> anyhow::Result<Exit> {
    if let Err(rejection) = spec.capacity() {
        bail!("the event spec is invalid: {rejection}");
    }
    let client = global.client()?;
    let id = request.resolve(&client)?;
    let decided = client.create_event(&id, spec, dedicated).await?;
    Ok(output::decided(global.json, &id, &decided))
}

pub async fn create_event(global: &Global, args: CreateEventArgs) -> anyhow::Result<Exit> {
    let spec = read_spec(&args.file)?;
    submit_create(global, &spec, args.dedicated, &args.request).await
}

#[derive(Debug, Args)]
pub struct CreateStadiumArgs {
    /// Event id.
    #[arg(long)]
    event: String,
    /// Sections (S1.., first half tier "Lower", the rest "Upper").
    #[arg(long, default_value_t = 10)]
    sections: usize,
    /// Rows per section.
    #[arg(long, default_value_t = 20)]
    rows: usize,
    /// Seats per row.
    #[arg(long, default_value_t = 25)]
    seats: u32,
    /// General-admission places in area "Field" (0: none).
    #[arg(long, default_value_t = 0)]
    ga: u32,
    /// Put the event on a group of its own.
    #[arg(long)]
    dedicated: bool,
    /// The sale opens now and lasts this many hours (the show starts a day later).
    #[arg(long, default_value_t = 24)]
    sale_hours: u64,
    #[command(flatten)]
    request: RequestIdArg,
}

pub async fn create_stadium(global: &Global, args: CreateStadiumArgs) -> anyhow::Result<Exit> {
    event_id(&args.event)?;
    if args.sections == 0 || args.rows == 0 || args.seats == 0 {
        bail!("--sections, --rows and --seats must be at least 1");
    }
    let mut spec = fixtures::stadium(&args.event, args.sections, args.rows, args.seats, args.ga);
    // The fixture's sale window starts at time 0; a live cluster's clock is the wall clock.
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    spec.on_sale_at_ms = now_ms.saturating_sub(60_000);
    spec.off_sale_at_ms = now_ms + args.sale_hours * fixtures::HOUR_MS;
    spec.starts_at_ms = spec.off_sale_at_ms + 24 * fixtures::HOUR_MS;
    submit_create(global, &spec, args.dedicated, &args.request).await
}

#[derive(Debug, Args)]
pub struct EventArg {
    /// Event id.
    event: String,
    #[command(flatten)]
    request: RequestIdArg,
}

pub async fn set_status(
    global: &Global,
    args: EventArg,
    change: StatusChange,
) -> anyhow::Result<Exit> {
    let event = event_id(&args.event)?;
    let client = global.client()?;
    let id = args.request.resolve(&client)?;
    let decided = client.set_event_status(&id, &event, change).await?;
    Ok(output::decided(global.json, &id, &decided))
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Only this group (default: every data group).
    #[arg(long)]
    group: Option<u64>,
    /// Served by any replica (may be behind).
    #[arg(long)]
    stale: bool,
}

fn consistency(stale: bool) -> Consistency {
    if stale {
        Consistency::Stale
    } else {
        Consistency::Linearizable
    }
}

fn event_json(event: &proto::Event) -> Value {
    json!({
        "event_id": event.event_id,
        "name": event.name,
        "venue": event.venue,
        "status": enum_name(event.status().as_str_name(), "EVENT_STATUS_"),
        "group": event.group,
        "capacity": event.capacity,
        "counts": counts_json(event.counts.as_ref()),
        "sections": event.sections.iter().map(|z| json!({
            "name": z.name, "tier": z.tier, "price_cents": z.price_cents, "capacity": z.capacity,
            "counts": counts_json(z.counts.as_ref()),
        })).collect::<Vec<_>>(),
        "ga_areas": event.ga_areas.iter().map(|z| json!({
            "name": z.name, "tier": z.tier, "price_cents": z.price_cents, "capacity": z.capacity,
            "counts": counts_json(z.counts.as_ref()),
        })).collect::<Vec<_>>(),
    })
}

/// The data groups of the cluster.
pub async fn data_groups(client: &Client) -> anyhow::Result<Vec<u64>> {
    let status = client
        .cluster_status()
        .await
        .context("no node answered the cluster status")?;
    Ok(status
        .groups
        .iter()
        .map(|g| g.group)
        .filter(|&g| g != 0)
        .collect())
}

pub async fn events(global: &Global, args: EventsArgs) -> anyhow::Result<Exit> {
    let client = global.client()?;
    let groups = match args.group {
        Some(group) => vec![group],
        None => data_groups(&client).await?,
    };
    let mut all = Vec::new();
    for group in groups {
        let mut after: Option<EventId> = None;
        loop {
            let page = client
                .events(group, after.as_ref(), 100, consistency(args.stale))
                .await
                .with_context(|| format!("listing the events of group {group}"))?;
            let count = page.events.len();
            if let Some(last) = page.events.last() {
                after = Some(event_id(&last.event_id)?);
            }
            all.extend(page.events);
            if count < 100 {
                break;
            }
        }
    }
    if global.json {
        println!(
            "{}",
            json!({ "events": all.iter().map(event_json).collect::<Vec<_>>() })
        );
        return Ok(Exit::Ok);
    }
    if all.is_empty() {
        println!("no events");
        return Ok(Exit::Ok);
    }
    println!(
        "{:<32} {:<6} {:<10} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "EVENT", "GROUP", "STATUS", "CAPACITY", "AVAIL", "HELD", "SOLD", "BLOCKED"
    );
    for event in &all {
        let c = event.counts.unwrap_or_default();
        println!(
            "{:<32} {:<6} {:<10} {:>9} {:>9} {:>9} {:>9} {:>9}",
            event.event_id,
            event.group,
            enum_name(event.status().as_str_name(), "EVENT_STATUS_"),
            event.capacity,
            c.available,
            c.held,
            c.sold,
            c.blocked
        );
    }
    Ok(Exit::Ok)
}

#[derive(Debug, Args)]
pub struct SeatsArgs {
    /// Event id.
    event: String,
    /// Only this section.
    #[arg(long)]
    section: Option<String>,
    /// Served by any replica (may be behind).
    #[arg(long)]
    stale: bool,
}

fn seat_char(status: proto::SeatStatus) -> char {
    match status {
        proto::SeatStatus::Available => '.',
        proto::SeatStatus::Held => 'H',
        proto::SeatStatus::Sold => 'X',
        proto::SeatStatus::Blocked => 'B',
        proto::SeatStatus::Unspecified => '?',
    }
}

pub async fn seats(global: &Global, args: SeatsArgs) -> anyhow::Result<Exit> {
    let event = event_id(&args.event)?;
    let client = global.client()?;
    let map = client
        .seat_map(&event, args.section.as_deref(), consistency(args.stale))
        .await?;
    if global.json {
        let out = json!({
            "event_id": map.event_id,
            "sections": map.sections.iter().map(|s| json!({
                "name": s.name,
                "rows": s.rows.iter().map(|r| json!({
                    "label": r.label,
                    "seats": r.seats.iter().map(|seat| json!({
                        "seat_id": seat.seat_id, "number": seat.number,
                        "status": enum_name(seat.status().as_str_name(), "SEAT_STATUS_"),
                        "tier": seat.tier, "price_cents": seat.price_cents, "accessible": seat.accessible,
                    })).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "ga_areas": map.ga_areas.iter().map(|z| json!({
                "name": z.name, "tier": z.tier, "price_cents": z.price_cents, "capacity": z.capacity,
                "counts": counts_json(z.counts.as_ref()),
            })).collect::<Vec<_>>(),
            "read": read_json(map.read.as_ref()),
        });
        println!("{out}");
        return Ok(Exit::Ok);
    }
    println!("event {}  (. available, H held, X sold, B blocked; seat ids are section.row.index, 0-based)", map.event_id);
    for section in &map.sections {
        let index = section
            .rows
            .iter()
            .flat_map(|r| r.seats.first())
            .next()
            .and_then(|seat| seat.seat_id.split('.').next())
            .unwrap_or("?");
        println!("section {} (#{index})", section.name);
        for row in &section.rows {
            let seats: String = row.seats.iter().map(|x| seat_char(x.status())).collect();
            let first = row.seats.first().map(|x| x.seat_id.as_str()).unwrap_or("-");
            println!(
                "  row {:<3} {:<10} {seats}",
                row.label,
                format!("{first}..")
            );
        }
    }
    for (a, area) in map.ga_areas.iter().enumerate() {
        println!(
            "GA area {} (#{a}, tier {}, {}): capacity {}, {}",
            area.name,
            area.tier,
            output::money(area.price_cents),
            area.capacity,
            counts_text(area.counts.as_ref())
        );
    }
    println!("{}", read_text(map.read.as_ref()));
    Ok(Exit::Ok)
}

#[derive(Debug, Args)]
pub struct HoldArgs {
    /// Event id.
    event: String,
    /// Customer id.
    #[arg(long)]
    customer: String,
    /// Specific seats: section.row.index, comma-separated.
    #[arg(long, value_delimiter = ',', conflicts_with_all = ["ga", "best_section", "best_tier"])]
    seats: Vec<String>,
    /// A general-admission area (with --quantity).
    #[arg(long, conflicts_with_all = ["best_section", "best_tier"])]
    ga: Option<String>,
    /// Best available in this section (with --quantity).
    #[arg(long, conflicts_with = "best_tier")]
    best_section: Option<String>,
    /// Best available in this price tier (with --quantity).
    #[arg(long)]
    best_tier: Option<String>,
    /// How many places (GA and best available).
    #[arg(long)]
    quantity: Option<u32>,
    /// Hold time-to-live (default: the event's).
    #[arg(long)]
    ttl_ms: Option<u64>,
    #[command(flatten)]
    request: RequestIdArg,
}

fn selection(args: &HoldArgs) -> anyhow::Result<Selection> {
    let quantity = || {
        args.quantity.ok_or_else(|| {
            anyhow!("--quantity is required with --ga, --best-section and --best-tier")
        })
    };
    if !args.seats.is_empty() {
        if args.quantity.is_some() {
            bail!("--quantity does not go with --seats");
        }
        let seats = args
            .seats
            .iter()
            .map(|s| s.trim().parse::<SeatId>().map_err(|e| anyhow!("{e}")))
            .collect::<anyhow::Result<Vec<_>>>()?;
        return Ok(Selection::Seats(seats));
    }
    if let Some(area) = &args.ga {
        return Ok(Selection::GeneralAdmission {
            area: area.clone(),
            quantity: quantity()?,
        });
    }
    if let Some(section) = &args.best_section {
        return Ok(Selection::BestAvailable {
            scope: Scope::Section(section.clone()),
            quantity: quantity()?,
        });
    }
    if let Some(tier) = &args.best_tier {
        return Ok(Selection::BestAvailable {
            scope: Scope::Tier(tier.clone()),
            quantity: quantity()?,
        });
    }
    bail!("say what to hold: --seats, --ga AREA --quantity N, --best-section S --quantity N or --best-tier T --quantity N")
}

pub async fn hold(global: &Global, args: HoldArgs) -> anyhow::Result<Exit> {
    let event = event_id(&args.event)?;
    let customer = customer_id(&args.customer)?;
    let selection = selection(&args)?;
    let client = global.client()?;
    let id = args.request.resolve(&client)?;
    let decided = client
        .hold(&id, &event, &customer, &selection, args.ttl_ms)
        .await?;
    Ok(output::decided(global.json, &id, &decided))
}

#[derive(Debug, Args)]
pub struct HoldRefArgs {
    /// Hold id ({event}~h{n}).
    hold: String,
    /// Customer id (the holder).
    #[arg(long)]
    customer: String,
    /// Extension time-to-live (extend only; default: the event's).
    #[arg(long)]
    ttl_ms: Option<u64>,
    #[command(flatten)]
    request: RequestIdArg,
}

pub async fn extend(global: &Global, args: HoldRefArgs) -> anyhow::Result<Exit> {
    let hold = hold_id(&args.hold)?;
    let customer = customer_id(&args.customer)?;
    let client = global.client()?;
    let id = args.request.resolve(&client)?;
    let decided = client
        .extend_hold(&id, &hold, &customer, args.ttl_ms)
        .await?;
    Ok(output::decided(global.json, &id, &decided))
}

pub async fn release(global: &Global, args: HoldRefArgs) -> anyhow::Result<Exit> {
    let hold = hold_id(&args.hold)?;
    let customer = customer_id(&args.customer)?;
    if args.ttl_ms.is_some() {
        bail!("--ttl-ms only goes with extend");
    }
    let client = global.client()?;
    let id = args.request.resolve(&client)?;
    let decided = client.release(&id, &hold, &customer).await?;
    Ok(output::decided(global.json, &id, &decided))
}

#[derive(Debug, Args)]
pub struct BuyArgs {
    /// Hold id ({event}~h{n}).
    hold: String,
    /// Customer id (the holder).
    #[arg(long)]
    customer: String,
    /// The payment processor's reference.
    #[arg(long)]
    payment_ref: String,
    #[command(flatten)]
    request: RequestIdArg,
}

pub async fn buy(global: &Global, args: BuyArgs) -> anyhow::Result<Exit> {
    let hold = hold_id(&args.hold)?;
    let customer = customer_id(&args.customer)?;
    let client = global.client()?;
    let id = args.request.resolve(&client)?;
    let decided = client.buy(&id, &hold, &customer, &args.payment_ref).await?;
    Ok(output::decided(global.json, &id, &decided))
}

#[derive(Debug, Args)]
pub struct OrderArgs {
    /// Order id ({event}~o{n}).
    order: String,
    /// Served by any replica (may be behind).
    #[arg(long)]
    stale: bool,
}

pub async fn order(global: &Global, args: OrderArgs) -> anyhow::Result<Exit> {
    let order = order_id(&args.order)?;
    let client = global.client()?;
    let reply = client.get_order(&order, consistency(args.stale)).await?;
    let Some(found) = reply.order else {
        if global.json {
            println!(
                "{}",
                json!({ "order": Value::Null, "read": read_json(reply.read.as_ref()) })
            );
        } else {
            println!("no such order: {order}");
            println!("{}", read_text(reply.read.as_ref()));
        }
        return Ok(Exit::Failed);
    };
    if global.json {
        println!(
            "{}",
            json!({ "order": output::proto_order_json(&found), "read": read_json(reply.read.as_ref()) })
        );
        return Ok(Exit::Ok);
    }
    let items = found.items.clone().unwrap_or_default();
    println!("order {}", found.order_id);
    println!(
        "  status:   {}{}",
        enum_name(found.status().as_str_name(), "ORDER_STATUS_"),
        found
            .cancel_reason
            .as_deref()
            .map_or(String::new(), |r| format!(" ({r})"))
    );
    println!("  customer: {}", found.customer_id);
    println!("  hold:     {}", found.hold_id);
    if items.seat_ids.is_empty() {
        println!(
            "  items:    {} place(s) in GA area #{}",
            items.quantity,
            items.ga_area.unwrap_or(0)
        );
    } else {
        println!("  seats:    {}", items.seat_ids.join(","));
    }
    println!("  amount:   {}", output::money(found.amount_cents));
    println!("  payment:  {}", found.payment_reference);
    println!("  created:  {} ms", found.created_at_ms);
    for ticket in &found.tickets {
        println!(
            "  ticket {} seat {} price {}",
            ticket.ticket_id,
            ticket.seat_id.as_deref().unwrap_or("GA"),
            output::money(ticket.price_cents)
        );
    }
    println!("{}", read_text(reply.read.as_ref()));
    Ok(Exit::Ok)
}

#[derive(Debug, Args)]
pub struct CancelArgs {
    /// Order id ({event}~o{n}).
    order: String,
    /// Why (kept with the order).
    #[arg(long)]
    reason: String,
    #[command(flatten)]
    request: RequestIdArg,
}

pub async fn cancel(global: &Global, args: CancelArgs) -> anyhow::Result<Exit> {
    let order = order_id(&args.order)?;
    let client = global.client()?;
    let id = args.request.resolve(&client)?;
    let decided = client.cancel_order(&id, &order, &args.reason).await?;
    Ok(output::decided(global.json, &id, &decided))
}
