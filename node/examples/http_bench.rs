//! An HTTP load test of a running cluster's gateways: waiting-room joins per second, then
//! reserve + order flows per second, with latency percentiles. `cluster-scripts/http-bench.sh`
//! starts a cluster and runs it; against another cluster:
//!
//! ```sh
//! cargo run --release -p boxoffice-node --example http_bench -- \
//!     --gateways 127.0.0.1:8081,127.0.0.1:8082,127.0.0.1:8083 --seconds 20 --concurrency 128
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use clap::Parser;
use hdrhistogram::Histogram;
use serde_json::{json, Value};

#[derive(Debug, Parser)]
struct Options {
    /// Gateways (host:port), comma-separated; workers spread over them.
    #[arg(long, value_delimiter = ',', default_value = "127.0.0.1:8081")]
    gateways: Vec<String>,
    /// Seconds each phase runs.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 128)]
    concurrency: usize,
    #[arg(long, default_value = "dev-app-key")]
    app_key: String,
    #[arg(long, default_value = "dev-admin-key")]
    admin_key: String,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn rfc3339(ms: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

/// What one phase measured.
struct Phase {
    done: AtomicU64,
    failed: AtomicU64,
    /// Failures by HTTP status (0: no answer).
    failures: Mutex<std::collections::BTreeMap<u16, u64>>,
    latency: Mutex<Histogram<u64>>,
}

impl Phase {
    fn new() -> Arc<Phase> {
        Arc::new(Phase {
            done: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            failures: Mutex::default(),
            latency: Mutex::new(Histogram::new(3).expect("a histogram")),
        })
    }

    fn record(&self, started: Instant, ok: bool) {
        if ok {
            self.done.fetch_add(1, Ordering::Relaxed);
            let us = started.elapsed().as_micros() as u64;
            let _ = self
                .latency
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .record(us.max(1));
        } else {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn fail(&self, status: u16) {
        *self
            .failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(status)
            .or_default() += 1;
    }

    fn report(&self, name: &str, elapsed: Duration) {
        let done = self.done.load(Ordering::Relaxed);
        let latency = self.latency.lock().unwrap_or_else(|p| p.into_inner());
        let ms = |q: f64| latency.value_at_quantile(q) as f64 / 1_000.0;
        println!(
            "{name:<16} {:>8.0}/s  ({done} in {:.1} s, {} failed)  p50 {:.1} ms  p99 {:.1} ms  max {:.1} ms",
            done as f64 / elapsed.as_secs_f64(),
            elapsed.as_secs_f64(),
            self.failed.load(Ordering::Relaxed),
            ms(0.5),
            ms(0.99),
            latency.max() as f64 / 1_000.0
        );
        let failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if !failures.is_empty() {
            println!("{:<16} failures by status: {failures:?}", "");
        }
    }
}

async fn post(
    http: &reqwest::Client,
    url: &str,
    key: &str,
    body: &Value,
) -> anyhow::Result<(u16, Value)> {
    let response = http.post(url).bearer_auth(key).json(body).send().await?;
    let status = response.status().as_u16();
    Ok((status, response.json().await.unwrap_or(Value::Null)))
}

async fn create_event(
    options: &Options,
    http: &reqwest::Client,
    body: Value,
) -> anyhow::Result<()> {
    let url = format!("http://{}/api/v1/events", options.gateways[0]);
    let (status, answer) = post(http, &url, &options.admin_key, &body).await?;
    if status != 201 {
        bail!("creating the event answered {status}: {answer}");
    }
    Ok(())
}

/// Runs `work(worker, n)` on `concurrency` workers for `seconds`; `n` counts each worker's calls.
async fn run<F, Fut>(options: &Options, phase: Arc<Phase>, work: F) -> Duration
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let work = Arc::new(work);
    let deadline = Instant::now() + Duration::from_secs(options.seconds);
    let started = Instant::now();
    let workers: Vec<_> = (0..options.concurrency)
        .map(|worker| {
            let work = work.clone();
            let phase = phase.clone();
            tokio::spawn(async move {
                let mut n = 0;
                while Instant::now() < deadline {
                    let began = Instant::now();
                    let ok = work(worker, n).await;
                    phase.record(began, ok);
                    n += 1;
                }
            })
        })
        .collect();
    for worker in workers {
        let _ = worker.await;
    }
    started.elapsed()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let options = Arc::new(Options::parse());
    if options.gateways.is_empty() {
        bail!("no gateways given");
    }
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(options.concurrency)
        .build()
        .context("an HTTP client")?;
    let run_id = now_ms();
    println!(
        "{} gateways, {} in flight, {} s per phase",
        options.gateways.len(),
        options.concurrency,
        options.seconds
    );

    // Joins: a gated event on sale in an hour, so every join is an early arrival.
    let queue_event = format!("bench-queue-{run_id}");
    create_event(
        &options,
        &http,
        json!({
            "event_id": queue_event, "name": "Queue bench", "venue": "Bench", "category": "bench",
            "start_time": rfc3339(now_ms() + 7_200_000), "on_sale_time": rfc3339(now_ms() + 3_600_000),
            "ga_areas": [{"name": "Floor", "capacity": 1000, "price": 10.0}], "gated": true,
        }),
    )
    .await?;
    let joins = Phase::new();
    let elapsed = {
        let (options, http, event) = (options.clone(), http.clone(), queue_event.clone());
        let failures = joins.clone();
        run(&options.clone(), joins.clone(), move |worker, n| {
            let (options, http, event) = (options.clone(), http.clone(), event.clone());
            let joins_failed = failures.clone();
            async move {
                let gateway = &options.gateways[worker % options.gateways.len()];
                let url = format!("http://{gateway}/api/v1/events/{event}/queue");
                let body = json!({"user_id": format!("fan-{worker}-{n}")});
                match post(&http, &url, &options.app_key, &body).await {
                    Ok((201, _)) => true,
                    Ok((status, _)) => {
                        joins_failed.fail(status);
                        false
                    }
                    Err(_) => {
                        joins_failed.fail(0);
                        false
                    }
                }
            }
        })
        .await
    };
    joins.report("queue joins", elapsed);

    // Reserve + order: one GA place per buyer in a large area.
    let sale_event = format!("bench-sale-{run_id}");
    create_event(
        &options,
        &http,
        json!({
            "event_id": sale_event, "name": "Sale bench", "venue": "Bench", "category": "bench",
            "start_time": rfc3339(now_ms() + 7_200_000), "on_sale_time": rfc3339(now_ms() - 60_000),
            "ga_areas": [{"name": "Floor", "capacity": 1_000_000, "price": 10.0}],
        }),
    )
    .await?;
    let flows = Phase::new();
    let reserves = Phase::new();
    let orders = Phase::new();
    let elapsed = {
        let (options, http, event) = (options.clone(), http.clone(), sale_event.clone());
        let (reserves, orders) = (reserves.clone(), orders.clone());
        run(&options.clone(), flows.clone(), move |worker, n| {
            let (options, http, event) = (options.clone(), http.clone(), event.clone());
            let (reserves, orders) = (reserves.clone(), orders.clone());
            async move {
                let gateway = &options.gateways[worker % options.gateways.len()];
                let user = format!("buyer-{worker}-{n}");
                let began = Instant::now();
                let reserve = post(
                    &http,
                    &format!("http://{gateway}/api/v1/events/{event}/reserve"),
                    &options.app_key,
                    &json!({"user_id": user, "quantity": 1, "ga_area": "Floor"}),
                )
                .await;
                let hold = match reserve {
                    Ok((201, hold)) => hold,
                    other => {
                        reserves.record(began, false);
                        reserves.fail(other.map_or(0, |(status, _)| status));
                        return false;
                    }
                };
                reserves.record(began, true);
                let began = Instant::now();
                let order = post(
                    &http,
                    &format!("http://{gateway}/api/v1/orders"),
                    &options.app_key,
                    &json!({"reservation_id": hold["reservation_id"], "user_id": user, "payment_reference": "bench"}),
                )
                .await;
                let ok = matches!(order, Ok((201, _)));
                orders.record(began, ok);
                if !ok {
                    orders.fail(order.map_or(0, |(status, _)| status));
                }
                ok
            }
        })
        .await
    };
    flows.report("reserve+order", elapsed);
    reserves.report("  reserve", elapsed);
    orders.report("  order", elapsed);
    Ok(())
}
