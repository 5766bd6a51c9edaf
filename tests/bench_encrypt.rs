//! `POST /encrypt` throughput and latency against the real host binary.
//!
//! Run: `cargo bench -p qimem-host --bench encrypt`
//!
//! Starts `target/release/qimem` (stateless unless `QIMEM_MODE` and
//! `DATABASE_URL` are set in the environment), creates one key, then for
//! each input size (64 B, 1 KiB) and concurrency (1, 16) warms up for one
//! second and measures for `QIMEM_BENCH_SECS` seconds (default 5), printing
//! requests per second and p50/p99 latency.

use std::time::{Duration, Instant};

use qimem_tests::Host;
use serde_json::json;

fn main() {
    let secs: u64 = std::env::var("QIMEM_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let passthrough: Vec<(String, String)> = ["QIMEM_MODE", "DATABASE_URL"]
        .iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v)))
        .collect();
    let env: Vec<(&str, &str)> = passthrough
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let host = Host::start(&env);
    let mode = std::env::var("QIMEM_MODE").unwrap_or_else(|_| "stateless".into());

    let (status, key) = host.post("/v1/keys", &json!({}));
    assert_eq!(status, 201, "creating the bench key failed: {key}");
    let key_id = key["key_id"].as_str().expect("key id").to_string();

    println!(
        "qimem encrypt bench, mode={mode}, {secs}s per case, host {}",
        host.base
    );
    println!(
        "{:>6} {:>11} {:>10} {:>10} {:>10}",
        "input", "concurrency", "req/s", "p50 ms", "p99 ms"
    );
    for size in [64usize, 1024] {
        let input = "x".repeat(size);
        for concurrency in [1usize, 16] {
            let body = json!({ "key_id": key_id, "input": input });
            run(&host, &body, concurrency, Duration::from_secs(1));
            let (count, elapsed, mut latencies) =
                run(&host, &body, concurrency, Duration::from_secs(secs));
            latencies.sort_unstable();
            let pct = |p: f64| {
                let i = ((latencies.len() as f64 - 1.0) * p).round() as usize;
                latencies[i].as_secs_f64() * 1000.0
            };
            println!(
                "{:>5}B {:>11} {:>10.0} {:>10.3} {:>10.3}",
                size,
                concurrency,
                count as f64 / elapsed.as_secs_f64(),
                pct(0.50),
                pct(0.99)
            );
        }
    }
}

/// Send `body` from `concurrency` clients for `length`; every answer must be 200.
fn run(
    host: &Host,
    body: &serde_json::Value,
    concurrency: usize,
    length: Duration,
) -> (usize, Duration, Vec<Duration>) {
    let started = Instant::now();
    let per_client: Vec<Vec<Duration>> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..concurrency)
            .map(|_| {
                scope.spawn(|| {
                    let mut latencies = Vec::new();
                    while started.elapsed() < length {
                        let t = Instant::now();
                        let (status, resp) = host.post("/encrypt", body);
                        latencies.push(t.elapsed());
                        assert_eq!(status, 200, "{resp}");
                    }
                    latencies
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("bench client"))
            .collect()
    });
    let elapsed = started.elapsed();
    let all: Vec<Duration> = per_client.into_iter().flatten().collect();
    (all.len(), elapsed, all)
}
