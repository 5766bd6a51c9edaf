//! Fuzzing inside `cargo test`: replay the committed corpus, then a short
//! mutation run over it. The run is bounded by `QIMEM_FUZZ_SECONDS`
//! (default 1) and `QIMEM_FUZZ_RUNS` (default 3000) per target; raise both
//! to fuzz for longer (see `fuzz/README.md`). A failing input is written to
//! the system temporary directory and its path printed, so that it can be
//! added to the corpus once fixed.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use arbitrary::Unstructured;
use qimem_component::fuzz;

/// A fuzz target: a function of arbitrary bytes that panics on a bug.
type Target = fn(&[u8]);

fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target)
}

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let mut entries: Vec<_> = std::fs::read_dir(corpus_dir(target))
        .expect("committed corpus")
        .map(|e| e.expect("corpus entry").path())
        .collect();
    entries.sort();
    entries
        .iter()
        .map(|p| std::fs::read(p).expect("corpus file"))
        .collect()
}

/// Run `target` on `input`; on a panic, keep the input and fail loudly.
fn run_one(name: &str, target: Target, input: &[u8]) {
    if catch_unwind(AssertUnwindSafe(|| target(input))).is_err() {
        let path = std::env::temp_dir().join(format!("qimem-fuzz-{name}-{}", std::process::id()));
        let _ = std::fs::write(&path, input);
        panic!(
            "fuzz target {name} failed on the input saved at {}",
            path.display()
        );
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Mutate a corpus entry, steered by random bytes: bit flips, byte
/// changes, insertions, deletions, truncation and splicing with another
/// entry, a few at a time.
fn mutate(u: &mut Unstructured<'_>, seeds: &[Vec<u8>]) -> arbitrary::Result<Vec<u8>> {
    let mut data = u.choose(seeds)?.clone();
    for _ in 0..u.int_in_range(1..=4)? {
        let at = |u: &mut Unstructured<'_>, len: usize| u.choose_index(len.max(1));
        match u.int_in_range(0..=6)? {
            0 if !data.is_empty() => {
                let i = at(u, data.len())?;
                data[i] ^= 1 << u.int_in_range(0..=7)?;
            }
            1 if !data.is_empty() => {
                let i = at(u, data.len())?;
                data[i] = u.arbitrary()?;
            }
            2 => {
                let i = at(u, data.len() + 1)?.min(data.len());
                let bytes: Vec<u8> = (0..u.int_in_range(1..=8)?)
                    .map(|_| u.arbitrary())
                    .collect::<arbitrary::Result<_>>()?;
                data.splice(i..i, bytes);
            }
            3 if !data.is_empty() => {
                let i = at(u, data.len())?;
                let end = (i + u.int_in_range(1..=16)?).min(data.len());
                data.drain(i..end);
            }
            4 => data.truncate(at(u, data.len() + 1)?),
            5 => {
                let other = u.choose(seeds)?;
                let from = at(u, other.len())?.min(other.len());
                let i = at(u, data.len() + 1)?.min(data.len());
                data.truncate(i);
                data.extend_from_slice(&other[from..]);
            }
            _ => {
                // Interesting JSON and envelope bytes.
                let token: &[u8] = u.choose(&[
                    &b"\""[..],
                    b"{",
                    b"}",
                    b"[",
                    b"]",
                    b",",
                    b":",
                    b"null",
                    b"\\u0000",
                    b"1e999",
                    b"-1",
                    b"\x01",
                    b"\x03",
                    b"\xff",
                    b"====",
                ])?;
                let i = at(u, data.len() + 1)?.min(data.len());
                data.splice(i..i, token.iter().copied());
            }
        }
    }
    Ok(data)
}

fn bounded_run(name: &str, target: Target) {
    let seeds = corpus(name);
    let budget = Duration::from_secs(env_number("QIMEM_FUZZ_SECONDS", 1));
    let runs = env_number("QIMEM_FUZZ_RUNS", 3000);
    let start = Instant::now();
    let mut entropy = vec![0u8; 1 << 16];
    let mut done = 0;
    while done < runs && start.elapsed() < budget {
        getrandom::fill(&mut entropy).expect("random bytes");
        let mut u = Unstructured::new(&entropy);
        while done < runs && start.elapsed() < budget {
            let Ok(input) = mutate(&mut u, &seeds) else {
                break;
            };
            run_one(name, target, &input);
            done += 1;
        }
    }
    assert!(done > 0, "no fuzz inputs ran");
    eprintln!("fuzz {name}: {done} inputs in {:?}", start.elapsed());
}

#[test]
fn the_committed_envelope_corpus_replays_cleanly() {
    let seeds = corpus("envelope");
    assert!(seeds.len() >= 4);
    for input in &seeds {
        run_one("envelope", fuzz::envelope, input);
    }
}

#[test]
fn the_committed_json_corpus_replays_cleanly() {
    let seeds = corpus("json");
    assert!(seeds.len() >= 10);
    for input in &seeds {
        run_one("json", fuzz::json_request, input);
    }
}

#[test]
fn a_bounded_mutation_run_of_the_envelope_parser_finds_nothing() {
    bounded_run("envelope", fuzz::envelope);
}

#[test]
fn a_bounded_mutation_run_of_the_json_decoder_finds_nothing() {
    bounded_run("json", fuzz::json_request);
}

/// Writes the seed corpus: valid envelopes of the fixture keys and one body
/// per route. Run with `--ignored` after changing the formats.
#[test]
#[ignore]
fn write_the_seed_corpus() {
    use qimem_component::cipher;
    use qimem_component::model::Algorithm;

    let envelope_dir = corpus_dir("envelope");
    std::fs::create_dir_all(&envelope_dir).unwrap();
    for (n, alg) in (1u128..).zip(Algorithm::ALL) {
        let key = fuzz::Fixture::material(alg);
        let id = uuid::Uuid::from_u128(n);
        let nonce = vec![n as u8; alg.nonce_len()];
        for (tag, aad, plain) in [("empty", &b""[..], &b""[..]), ("aad", b"aad", b"hello")] {
            let env = cipher::encrypt_with_nonce(alg, &key, id, &nonce, aad, plain).unwrap();
            std::fs::write(envelope_dir.join(format!("{}-{tag}", alg.name())), env).unwrap();
        }
    }
    std::fs::write(envelope_dir.join("short"), [1u8, 1, 0]).unwrap();

    let gcm = "00000000-0000-0000-0000-000000000001";
    let env = std::fs::read(envelope_dir.join("aes-256-gcm-aad")).unwrap();
    let env = base64_encode(&env);
    let bodies: [(&str, String); 15] = [
        (
            "/v1/keys",
            r#"{"algorithm":"aes-256-siv","labels":{"a":"b"}}"#.into(),
        ),
        (
            "/v1/keys/import",
            r#"{"material_b64":"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="}"#.into(),
        ),
        (
            "/v1/encrypt",
            format!(r#"{{"key_id":"{gcm}","input":"hi","aad_b64":"YWFk"}}"#),
        ),
        (
            "/v1/encrypt",
            format!(r#"{{"key_id":"{gcm}","input_b64":"/wA="}}"#),
        ),
        (
            "/v1/decrypt",
            format!(r#"{{"input":"{env}","aad_b64":"YWFk","output":"base64"}}"#),
        ),
        ("/v1/rotate", format!(r#"{{"key_id":"{gcm}"}}"#)),
        (
            "/v1/rewrap",
            format!(r#"{{"input":"{env}","aad_b64":"YWFk"}}"#),
        ),
        (
            "/v1/data-key",
            format!(r#"{{"key_id":"{gcm}","aad_b64":""}}"#),
        ),
        (
            "/v1/data-key/wrapped",
            r#"{"key_id":"00000000-0000-0000-0000-000000000103"}"#.into(),
        ),
        (
            "/v1/batch/encrypt",
            format!(r#"{{"items":[{{"key_id":"{gcm}","input":""}},{{}}]}}"#),
        ),
        (
            "/v1/batch/decrypt",
            format!(r#"{{"items":[{{"input":"{env}","aad_b64":"YWFk"}}]}}"#),
        ),
        (
            "/v1/batch/rewrap",
            format!(r#"{{"items":[{{"input":"{env}"}},7]}}"#),
        ),
        (
            "/v1/keys/00000000-0000-0000-0000-000000000001/destroy",
            format!(r#"{{"confirm":"{gcm}","force":true}}"#),
        ),
        (
            "/v1/keys/00000000-0000-0000-0000-000000000002/disable",
            "{}".into(),
        ),
        (
            "/v1/keys/00000000-0000-0000-0000-000000000003/enable",
            "".into(),
        ),
    ];
    let json_dir = corpus_dir("json");
    std::fs::create_dir_all(&json_dir).unwrap();
    for (i, (route, body)) in bodies.iter().enumerate() {
        let pick = fuzz::ROUTES.iter().position(|r| r == route).unwrap() as u8;
        let mut input = vec![pick];
        input.extend_from_slice(body.as_bytes());
        std::fs::write(json_dir.join(format!("{i:02}")), input).unwrap();
    }
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
