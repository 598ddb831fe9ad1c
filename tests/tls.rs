//! TLS through the whole analysis (`httpreuse::analyzer` and the binary):
//! every `fixtures/captures/tls-*.pcap`, with and without its key log,
//! against what tshark read from the same capture and key log
//! (`fixtures/expected/tls/*.json`, written by `fixtures/tls-expect.py`),
//! and against what each program of `fixtures/record-tls.sh` did (the
//! close reasons).

use std::path::PathBuf;
use std::process::Command;

use httpreuse::analyzer::{self, Options};
use httpreuse::capture::Input;
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn capture(name: &str) -> PathBuf {
    root().join(format!("fixtures/captures/{name}.pcap"))
}

fn keys(name: &str) -> PathBuf {
    root().join(format!("fixtures/captures/{name}.keys"))
}

/// The JSON report of `inputs` with these key logs and threads.
fn report(inputs: &[PathBuf], keylogs: &[PathBuf], threads: usize) -> Value {
    let mut o = Options {
        threads,
        ..Options::default()
    };
    o.read_keylogs(keylogs).unwrap();
    let inputs: Vec<Input> = inputs.iter().map(|p| Input::Path(p.clone())).collect();
    let r = analyzer::analyze(&inputs, o).unwrap();
    serde_json::to_value(&r).unwrap()
}

/// Every fixture with tshark's reading, by name.
fn fixtures() -> Vec<(String, Value)> {
    let dir = root().join("fixtures/expected/tls");
    let mut v: Vec<(String, Value)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            (
                name,
                serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap(),
            )
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(v.len() >= 20, "TLS expectations missing");
    v
}

fn has_keys(name: &str) -> bool {
    std::fs::metadata(keys(name)).is_ok_and(|m| m.len() > 0)
}

fn port(c: &Value) -> u64 {
    let client = c["client"].as_str().unwrap();
    client.rsplit(':').next().unwrap().parse().unwrap()
}

/// Our connection matched to tshark's by client port.
fn matched<'a>(r: &'a Value, t: &Value) -> &'a Value {
    let p = t["client_port"].as_u64().unwrap();
    r["connections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| port(c) == p)
        .unwrap_or_else(|| panic!("no connection from port {p}"))
}

fn is_h2(t: &Value) -> bool {
    t["alpn"].as_str() == Some("h2")
}

/// A handshake tshark saw fail: no ServerHello, or a fatal alert.
fn failed(t: &Value) -> bool {
    t["version"].is_null()
        || t["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["level"] == "fatal")
}

#[test]
fn tls_facts_agree_with_tshark_with_and_without_keys() {
    for (name, exp) in fixtures() {
        let plain = report(&[capture(&name)], &[], 1);
        let keyed = has_keys(&name).then(|| report(&[capture(&name)], &[keys(&name)], 1));
        let conns = exp["connections"].as_array().unwrap();
        assert_eq!(
            plain["connections"].as_array().unwrap().len(),
            conns.len(),
            "{name}: connections"
        );
        for t in conns {
            for (r, with_keys) in [(Some(&plain), false), (keyed.as_ref(), true)] {
                let Some(r) = r else { continue };
                let c = matched(r, t);
                let tls = &c["tls"];
                let ctx = format!("{name} port {} keys {with_keys}", t["client_port"]);
                assert!(tls.is_object(), "{ctx}: no tls object");
                assert_eq!(tls["sni"], t["sni"], "{ctx}: sni");
                assert_eq!(tls["version"], t["version"], "{ctx}: version");
                assert_eq!(tls["cipher"], t["cipher"], "{ctx}: cipher");
                assert_eq!(tls["resumed"], t["resumed"], "{ctx}: resumed");
                assert_eq!(
                    tls["alpn_offered"], t["alpn_offered"],
                    "{ctx}: alpn offered"
                );
                assert_eq!(tls["hello_retry"], t["hello_retry"], "{ctx}: hello_retry");
                assert_eq!(
                    tls["early_data"]["offered"], t["early_data_offered"],
                    "{ctx}: early data offered"
                );
                // ALPN: visible in a TLS 1.2 ServerHello; TLS 1.3 hides it
                // in EncryptedExtensions (read when decrypted).
                let hidden = t["version"] == "TLS 1.3" && tls["decrypted"] != true;
                if hidden {
                    assert!(tls["alpn"].is_null(), "{ctx}: alpn should be hidden");
                    assert_eq!(tls["alpn_hidden"], true, "{ctx}: alpn_hidden");
                } else if !t["alpn"].is_null() {
                    assert_eq!(tls["alpn"], t["alpn"], "{ctx}: alpn");
                }
                if failed(t) {
                    assert_eq!(c["close"]["reason"], "tls_failed", "{ctx}: close reason");
                    assert_ne!(tls["handshake"], "complete", "{ctx}: handshake");
                }
            }
        }
    }
}

#[test]
fn with_keys_requests_responses_methods_statuses_agree_with_tshark() {
    let mut decrypted = 0;
    for (name, exp) in fixtures() {
        if !has_keys(&name) {
            continue;
        }
        let r = report(&[capture(&name)], &[keys(&name)], 1);
        let mut requests = 0;
        for t in exp["connections"].as_array().unwrap() {
            let c = matched(&r, t);
            let ctx = format!("{name} port {}", t["client_port"]);
            let tls = &c["tls"];
            if failed(t) {
                assert_eq!(c["requests"], 0, "{ctx}");
                assert_eq!(c["close"]["reason"], "tls_failed", "{ctx}");
                continue;
            }
            if is_h2(t) {
                // HTTP/2 plaintext: decrypted and analysed as HTTP/2 (the
                // streams in detail are checked in tests/h2.rs).
                assert_eq!(tls["decrypted"], true, "{ctx}: h2 decrypted");
                if tls["turns"] == 0 {
                    // no application data: nothing to analyse
                    assert_eq!(tls["plaintext_protocol"], Value::Null, "{ctx}");
                    assert_eq!(tls["plaintext_analysed"], false, "{ctx}");
                    assert_eq!(c["close"]["estimated"], true, "{ctx}");
                    continue;
                }
                assert_eq!(tls["plaintext_protocol"], "h2", "{ctx}");
                assert_eq!(tls["plaintext_analysed"], true, "{ctx}");
                assert_ne!(c["close"]["estimated"], true, "{ctx}");
                assert_eq!(c["http2"]["start"], "alpn", "{ctx}");
                assert_eq!(c["requests"], t["h2_requests"], "{ctx}: h2 requests");
                assert_eq!(c["responses"], t["h2_responses"], "{ctx}: h2 responses");
                requests += t["h2_requests"].as_u64().unwrap_or(0);
                continue;
            }
            if t["cipher"].as_str().is_some_and(|c| c.contains("_CBC_")) {
                // tshark decrypts CBC suites; this tool does not (say so).
                assert_eq!(tls["decrypted"], false, "{ctx}");
                assert_eq!(tls["decrypt_error"], "unsupported_cipher", "{ctx}");
                assert_eq!(c["close"]["estimated"], true, "{ctx}");
                assert_eq!(tls["turns"], t["http_requests"], "{ctx}: turns");
                continue;
            }
            assert_eq!(c["requests"], t["http_requests"], "{ctx}: requests");
            assert_eq!(c["responses"], t["http_responses"], "{ctx}: responses");
            let methods: Vec<&Value> = c["exchanges"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|e| e["request"].get("method"))
                .collect();
            let statuses: Vec<&Value> = c["exchanges"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|e| e["response"].get("status"))
                .collect();
            let want_m: Vec<&Value> = t["http_methods"].as_array().unwrap().iter().collect();
            let want_s: Vec<&Value> = t["http_statuses"].as_array().unwrap().iter().collect();
            assert_eq!(methods, want_m, "{ctx}: methods");
            assert_eq!(statuses, want_s, "{ctx}: statuses");
            requests += c["requests"].as_u64().unwrap();
            if t["http_requests"].as_u64().unwrap() > 0 {
                assert_eq!(tls["decrypted"], true, "{ctx}");
                assert_eq!(tls["plaintext_protocol"], "http/1.1", "{ctx}");
                assert!(
                    c["close"].get("estimated").is_none(),
                    "{ctx}: exact verdict"
                );
                decrypted += 1;
            }
            // Decrypted alerts: the first close_notify's sender is tshark's.
            let first_cn = t["alerts"]
                .as_array()
                .unwrap()
                .iter()
                .find(|a| a["description"] == "close_notify");
            if let Some(a) = first_cn
                && tls["decrypted"] == true
            {
                assert_eq!(tls["close_notify"]["by"], a["by"], "{ctx}: close_notify by");
            }
        }
        assert_eq!(
            r["summary"]["requests"], requests,
            "{name}: summary requests"
        );
    }
    assert!(decrypted >= 15, "only {decrypted} connections decrypted");
}

/// What each program of `fixtures/record-tls.sh` did, as a close reason
/// and the side of the first FIN/RST.
fn program_close(name: &str) -> Option<(&'static str, &'static str)> {
    Some(match name {
        // curl fetches its URLs on one keep-alive connection, then ends it.
        "tls-tls12-aes128gcm"
        | "tls-tls13-aes128gcm"
        | "tls-tls13-aes256gcm"
        | "tls-tls13-chacha20" => ("idle", "client"),
        // The same, nginx answering curl's close_notify with its FIN first.
        "tls-tls12-aes256gcm" | "tls-tls12-chacha20" => ("idle", "server"),
        // s_client and python send `Connection: close`; nginx closes.
        "tls-tls12-resume-session-id"
        | "tls-tls12-resume-ticket"
        | "tls-tls13-0rtt"
        | "tls-tls13-psk-refused"
        | "tls-tls13-hrr"
        | "tls-tls13-python-reuse" => ("connection_close", "server"),
        // s_client's EOF (close_notify), python's close() without it.
        "tls-tls13-keyupdate" | "tls-tls13-plain-fin" => ("idle", "client"),
        // nginx keepalive_timeout 2s.
        "tls-tls13-idle-timeout" => ("idle", "server"),
        "tls-tls12-unknown-ca"
        | "tls-tls13-unknown-ca"
        | "tls-tls-version-mismatch"
        | "tls-tls-clienthello-rst" => ("tls_failed", "server"),
        _ => return None,
    })
}

#[test]
fn close_reasons_are_what_the_programs_did() {
    let mut checked = 0;
    for (name, exp) in fixtures() {
        let Some((reason, by)) = program_close(&name) else {
            continue;
        };
        let r = report(&[capture(&name)], &[keys(&name)], 1);
        for t in exp["connections"].as_array().unwrap() {
            let c = matched(&r, t);
            let ctx = format!("{name} port {}", t["client_port"]);
            assert_eq!(c["close"]["reason"], reason, "{ctx}: {}", c["close"]);
            assert_eq!(c["close"]["by"], by, "{ctx}");
            // tshark's first FIN/RST side.
            assert_eq!(c["first_close"]["by"], t["first_close"]["by"], "{ctx}");
            checked += 1;
        }
        if name == "tls-tls13-idle-timeout" {
            let idle = r["connections"][0]["close"]["idle_seconds"]
                .as_f64()
                .unwrap();
            assert!((1.9..2.6).contains(&idle), "{name}: idle {idle}");
        }
    }
    assert!(checked >= 20);
}

#[test]
fn without_keys_turns_estimate_requests_and_the_verdict_is_estimated() {
    let mut sequential = 0;
    for (name, exp) in fixtures() {
        let r = report(&[capture(&name)], &[], 1);
        for t in exp["connections"].as_array().unwrap() {
            let c = matched(&r, t);
            let ctx = format!("{name} port {}", t["client_port"]);
            let tls = &c["tls"];
            assert_eq!(tls["decrypted"], false, "{ctx}");
            assert_eq!(tls["decrypt_error"], "no_keys", "{ctx}");
            assert_eq!(c["requests"], 0, "{ctx}: no HTTP seen without keys");
            // No non_http noise from the encrypted bytes.
            for a in c["anomalies"].as_array().unwrap() {
                assert_ne!(a["kind"], "non_http", "{ctx}");
            }
            if failed(t) {
                continue;
            }
            let want = t["http_requests"].as_u64().unwrap();
            if !is_h2(t) && !t["version"].is_null() && want > 0 {
                // Every HTTP/1 fixture is sequential (no pipelining).
                assert_eq!(tls["turns"], want, "{ctx}: turns vs requests");
                sequential += 1;
            }
            let reason = c["close"]["reason"].as_str().unwrap();
            assert!(
                ["idle", "reset", "mid_message"].contains(&reason),
                "{ctx}: {reason}"
            );
            assert_eq!(c["close"]["estimated"], true, "{ctx}");
        }
    }
    assert!(sequential >= 15, "{sequential}");
}

#[test]
fn idle_timeout_without_keys_gives_the_idle_seconds() {
    let r = report(&[capture("tls-tls13-idle-timeout")], &[], 1);
    let c = &r["connections"][0]["close"];
    assert_eq!(c["reason"], "idle");
    assert_eq!(c["by"], "server");
    let idle = c["idle_seconds"].as_f64().unwrap();
    assert!((1.9..2.6).contains(&idle), "idle {idle}");
}

#[test]
fn summary_tls_object() {
    let names = [
        "tls-tls12-resume-session-id",
        "tls-tls13-python-reuse",
        "tls-tls12-unknown-ca",
        "tls-tls13-aes128gcm",
    ];
    let inputs: Vec<PathBuf> = names.iter().map(|n| capture(n)).collect();
    let r = report(&inputs, &[], 1);
    let s = &r["summary"]["tls"];
    assert_eq!(s["connections"], 6);
    // Two of the five with a ServerHello resumed (session id, psk).
    assert_eq!(s["resumed"], 2);
    assert_eq!(s["resumed_how"]["session_id"], 1);
    assert_eq!(s["resumed_how"]["psk"], 1);
    assert_eq!(s["handshakes"]["failed"], 1);
    assert_eq!(s["versions"]["TLS 1.2"], 3);
    assert_eq!(s["versions"]["TLS 1.3"], 3);
    assert!(
        s["by_server"]
            .as_array()
            .unwrap()
            .iter()
            .all(|srv| srv["sni"]["localhost"].is_u64())
    );
    // A plaintext capture has no tls object at all.
    let plain = report(&[capture("curl-keepalive")], &[], 1);
    assert!(plain["summary"].get("tls").is_none());
    assert!(plain["connections"][0].get("tls").is_none());
    assert!(plain["connections"][0]["close"].get("estimated").is_none());
}

#[test]
fn dsb_pcapng_decrypts_without_keylog() {
    let p = root().join("fixtures/captures/tls-tls13-aes128gcm-dsb.pcapng");
    let r = report(&[p], &[], 1);
    let c = &r["connections"][0];
    assert_eq!(c["tls"]["decrypted"], true);
    assert_eq!(c["requests"], 3);
    assert_eq!(c["responses"], 3);
    let k = &r["keylogs"][0];
    assert!(
        k["source"]
            .as_str()
            .unwrap()
            .contains("decryption secrets blocks")
    );
    assert_eq!(k["connections"], 1);
    // The same capture as pcap needs the key log.
    let r = report(&[capture("tls-tls13-aes128gcm")], &[], 1);
    assert_eq!(r["connections"][0]["requests"], 0);
}

#[test]
fn threads_give_the_same_report_with_keys_and_dsb() {
    let mut inputs: Vec<PathBuf> = Vec::new();
    let mut logs = Vec::new();
    for (name, _) in fixtures() {
        inputs.push(capture(&name));
        if has_keys(&name) {
            logs.push(keys(&name));
        }
    }
    inputs.push(root().join("fixtures/captures/tls-tls13-aes128gcm-dsb.pcapng"));
    let one = report(&inputs, &logs, 1);
    let two = report(&inputs, &logs, 2);
    let three = report(&inputs, &[], 3);
    assert_eq!(one, two);
    assert!(one["summary"]["requests"].as_u64().unwrap() > 30);
    // The DSB connection decrypts with threads too.
    assert_eq!(three["summary"]["tls"]["decrypted"], 1);
    assert_eq!(three, report(&inputs, &[], 1));
}

/// A key log of another capture: no secrets for this connection.
#[test]
fn wrong_key_log_says_why_per_connection() {
    let r = report(
        &[capture("tls-tls13-aes128gcm")],
        &[keys("tls-tls12-aes128gcm")],
        1,
    );
    let c = &r["connections"][0];
    assert_eq!(c["tls"]["decrypted"], false);
    assert_eq!(c["tls"]["decrypt_error"], "no_keys");
    assert_eq!(c["close"]["estimated"], true);
    assert_eq!(c["tls"]["turns"], 3);
}

fn tmp(name: &str, body: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("httpreuse-tls-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap();
    p
}

/// The right client random with every secret altered: bad keys.
#[test]
fn altered_secrets_are_bad_keys() {
    for name in ["tls-tls12-aes128gcm", "tls-tls13-aes128gcm"] {
        let text = std::fs::read_to_string(keys(name)).unwrap();
        let bad: String = text
            .lines()
            .map(|l| {
                let mut parts: Vec<String> = l.split(' ').map(String::from).collect();
                if let Some(s) = parts.get_mut(2) {
                    // Flip the first hex digit of the secret.
                    let first = if s.starts_with('0') { "1" } else { "0" };
                    s.replace_range(0..1, first);
                }
                parts.join(" ") + "\n"
            })
            .collect();
        let p = tmp(&format!("{name}-bad.keys"), bad.as_bytes());
        let r = report(&[capture(name)], &[p], 1);
        let c = &r["connections"][0];
        assert_eq!(c["tls"]["decrypted"], false, "{name}");
        assert_eq!(c["tls"]["decrypt_error"], "bad_keys", "{name}");
        assert_eq!(c["requests"], 0, "{name}");
        assert_eq!(c["close"]["estimated"], true, "{name}");
    }
}

/// A key log cut short: TLS 1.3 handshake secrets without the traffic
/// secrets; a TLS 1.2 line cut inside the secret (malformed, counted).
#[test]
fn truncated_key_log_is_incomplete_and_counted() {
    let text = std::fs::read_to_string(keys("tls-tls13-aes128gcm")).unwrap();
    let cut: String = text
        .lines()
        .filter(|l| l.contains("HANDSHAKE_TRAFFIC_SECRET"))
        .map(|l| format!("{l}\n"))
        .collect();
    let p = tmp("tls13-cut.keys", cut.as_bytes());
    let r = report(&[capture("tls-tls13-aes128gcm")], &[p], 1);
    let c = &r["connections"][0];
    assert_eq!(c["tls"]["decrypt_error"], "keys_incomplete", "{}", c["tls"]);
    assert_eq!(c["requests"], 0);
    assert_eq!(c["close"]["estimated"], true);

    let text = std::fs::read_to_string(keys("tls-tls12-aes128gcm")).unwrap();
    let half = &text[..text.len() / 2 + 10];
    let p = tmp("tls12-cut.keys", half.as_bytes());
    let r = report(
        &[capture("tls-tls12-aes128gcm")],
        std::slice::from_ref(&p),
        1,
    );
    let c = &r["connections"][0];
    assert_eq!(c["tls"]["decrypted"], false);
    assert_eq!(c["tls"]["decrypt_error"], "no_keys");
    let k = &r["keylogs"][0];
    assert_eq!(k["source"], p.display().to_string());
    assert_eq!(k["malformed"], 1);
    assert_eq!(k["malformed_lines"][0]["line"], 1);
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_httpreuse"))
}

#[test]
fn cli_keylog_missing_file_is_an_error_and_malformed_lines_are_warned() {
    let out = bin()
        .arg(capture("tls-tls12-aes128gcm"))
        .args(["--keylog", "/nonexistent/keys.log"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/keys.log"), "{err}");

    let mut log = std::fs::read(keys("tls-tls12-aes128gcm")).unwrap();
    log.extend_from_slice(b"CLIENT_RANDOM nothex\nGARBAGE\n");
    let p = tmp("with-junk.keys", &log);
    let out = bin()
        .arg(capture("tls-tls12-aes128gcm"))
        .arg("--keylog")
        .arg(&p)
        .args(["--format", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("2 malformed key log lines"), "{err}");
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["keylogs"][0]["malformed"], 2);
    assert_eq!(r["connections"][0]["requests"], 3);

    // The text report: a TLS line per connection and the TLS summary.
    let out = bin()
        .arg(capture("tls-tls12-aes128gcm"))
        .arg("--keylog")
        .arg(keys("tls-tls12-aes128gcm"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("TLS 1.2 · SNI localhost · ALPN http/1.1"),
        "{text}"
    );
    assert!(text.contains("TLS decryption   1 decrypted"), "{text}");
}

#[test]
fn keys_never_reach_the_report() {
    let name = "tls-tls13-aes128gcm";
    let out = bin()
        .arg(capture(name))
        .arg("--keylog")
        .arg(keys(name))
        .args(["--format", "json"])
        .output()
        .unwrap();
    let json = String::from_utf8_lossy(&out.stdout).to_ascii_lowercase();
    for line in std::fs::read_to_string(keys(name)).unwrap().lines() {
        if let Some(secret) = line.split(' ').nth(2) {
            assert!(!json.contains(&secret.to_ascii_lowercase()));
        }
    }
}

/// A Decryption Secrets Block whose secrets length runs past the block
/// (hand-damaged: no program writes one): counted in `keylogs`, the
/// capture still read, the connection analysed without keys.
#[test]
fn dsb_cut_short_is_counted_not_fatal() {
    let p = root().join("fixtures/captures/tls-tls13-aes128gcm-dsb.pcapng");
    let mut b = std::fs::read(&p).unwrap();
    // Walk the (little-endian) blocks to the DSB (type 0x0000000A).
    let mut off = 0;
    let u32_at = |b: &[u8], o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap());
    loop {
        assert!(off + 12 <= b.len(), "no decryption secrets block");
        if u32_at(&b, off) == 0x0A {
            break;
        }
        off += u32_at(&b, off + 4) as usize;
    }
    // Body: secrets type, secrets length: make the length huge.
    b[off + 12..off + 16].copy_from_slice(&0x00FF_FFFFu32.to_le_bytes());
    let q = tmp("dsb-cut.pcapng", &b);
    let r = report(&[q], &[], 1);
    assert!(r["inputs"][0]["error"].is_null(), "{}", r["inputs"][0]);
    let k = &r["keylogs"][0];
    assert_eq!(k["malformed"], 1);
    assert_eq!(
        k["malformed_lines"][0]["reason"],
        "decryption secrets block cut short"
    );
    let c = &r["connections"][0];
    assert_eq!(c["tls"]["decrypted"], false);
    assert_eq!(c["tls"]["turns"], 3);
}
