//! Secrets at rest (issue #14, items 2 and 3): private keys and HMAC secrets are stored sealed
//! under a key-encryption key (KEK) that is not in the database, and the root key that can be
//! that KEK is visible to superusers only.
//!
//! - a `pg_dump` file holds no private key that the `cryptography` package can load and no HMAC
//!   secret (scanned by `interop/scan_dump.py` in build/venv), and `pg_read_all_data` reads only
//!   sealed values;
//! - `auth.root_key` is shown to no one but superusers (not to `pg_monitor`) and cannot be set
//!   with `ALTER DATABASE/ROLE … SET`;
//! - signing without the KEK (the data directory's key file removed, replaced, too open or the
//!   wrong size) fails with SQLSTATE 55000 and changes nothing;
//! - without the KEK, HS256 tokens are refused with a clear reason while ES256 tokens verify;
//! - `auth.rekey()` moves every sealed value to a new root key (with the old one as
//!   `auth.previous_root_key`), or changes nothing when some value cannot be opened.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use pg_auth_keys_cluster_tests::{pg_program, text, Client, Cluster, NoTls};
use pg_auth_keys_core::{self as auth_core, Alg, SigningKey};
use serde_json::{json, Value};

/// Where the extension keeps its tables.
const PRIVATE: &str = "auth_private";
const KEK_FILE: &str = "pg_auth_keys.kek";
const ROOT_A: &str = "first root key of the sealing tests, 32+ bytes";
const ROOT_B: &str = "second root key of the sealing tests, 32+ bytes";
const LEGACY_SECRET: &str = "legacy-jwt-secret-of-the-sealing-test-0123456789";

fn python() -> PathBuf {
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../build/venv/bin/python");
    assert!(
        venv.exists(),
        "{} is missing: run scripts/setup.sh (make setup)",
        venv.display()
    );
    venv
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pak-sealing-{name}-{}", std::process::id()));
    fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// The SQLSTATE and message of a statement that must fail.
fn refusal(client: &mut Client, sql: &str) -> (String, String) {
    match client.batch_execute(sql) {
        Ok(()) => panic!("accepted: {sql}"),
        Err(e) => {
            let db = e
                .as_db_error()
                .unwrap_or_else(|| panic!("{sql}: not a server error: {e}"));
            (db.code().code().to_string(), db.message().to_string())
        }
    }
}

fn connect_as(cluster: &Cluster, role: &str) -> Client {
    let mut config = cluster.config("postgres");
    config.user(role);
    config.connect(NoTls).expect("connect")
}

/// Everything stored about keys, sealed values included, and the audit log's length.
fn key_state(client: &mut Client) -> String {
    text(
        client,
        &format!(
            "SELECT coalesce(md5(string_agg(concat_ws('|', kid, alg, state, encode(verify_key, 'hex'),
                                                    encode(private_key, 'hex')), ',' ORDER BY kid)), '')
                    || (SELECT count(*) FROM {PRIVATE}.key_events)
             FROM {PRIVATE}._keys"
        ),
    )
}

fn sign(client: &mut Client, kid: &str) -> String {
    text(
        client,
        &format!(r#"SELECT auth.sign_jwt('{{"role":"anon","sub":"s"}}', '{kid}')"#),
    )
}

fn kek_path(cluster: &Cluster) -> PathBuf {
    cluster.data_dir().join(KEK_FILE)
}

/// Write `bytes` as the key file, owned like the data directory, with `mode`.
fn write_kek(cluster: &Cluster, bytes: &[u8], mode: u32) {
    let path = kek_path(cluster);
    fs::write(&path, bytes).expect("write the key file");
    let dir = fs::metadata(cluster.data_dir()).unwrap();
    std::os::unix::fs::chown(&path, Some(dir.uid()), Some(dir.gid())).expect("chown");
    fs::set_permissions(&path, fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Set (or with None reset) a root-key setting with ALTER SYSTEM, reload, and wait until new
/// sessions see it.
fn configure(cluster: &Cluster, name: &str, value: Option<&str>) {
    let mut admin = cluster.connect();
    match value {
        Some(v) => admin
            .batch_execute(&format!("ALTER SYSTEM SET {name} = '{v}'"))
            .unwrap(),
        None => admin
            .batch_execute(&format!("ALTER SYSTEM RESET {name}"))
            .unwrap(),
    }
    admin.batch_execute("SELECT pg_reload_conf()").unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let shown = text(&mut cluster.connect(), &format!("SHOW {name}"));
        if shown == value.unwrap_or("") {
            return;
        }
        assert!(Instant::now() < deadline, "{name} was not reloaded");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn is_sealed(value: &[u8]) -> bool {
    value.first() == Some(&2) && auth_core::sealed_by(value).is_ok()
}

fn run_scanner(dump: &Path, hints: &Value) -> Value {
    let dir = dump.parent().unwrap();
    let hints_path = dir.join("hints.json");
    fs::write(&hints_path, hints.to_string()).unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("interop/scan_dump.py");
    let out = Command::new(python())
        .arg(script)
        .arg(dump)
        .arg(&hints_path)
        .output()
        .expect("run scan_dump.py");
    assert!(
        out.status.success(),
        "scan_dump.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("scan_dump.py prints JSON")
}

fn hs256_token(secret: &[u8], kid: &str) -> String {
    let key = SigningKey::from_private(Alg::HS256, secret).unwrap();
    let claims = json!({"role": "anon", "sub": "positive control", "exp": 4102444800u64});
    auth_core::sign_compact(&key, kid, claims.as_object().unwrap()).unwrap()
}

#[test]
fn pg_dump_and_pg_read_all_data_hold_no_usable_private_key() {
    let cluster = Cluster::start("sealing-dump");
    let mut admin = cluster.connect_with_extension();
    let legacy = text(
        &mut admin,
        &format!("SELECT legacy_kid FROM auth.migrate_legacy_secret('{LEGACY_SECRET}')"),
    );
    let mut kids = vec![legacy.clone()];
    for alg in ["ES256", "RS256", "EdDSA", "HS256"] {
        kids.push(text(
            &mut admin,
            &format!("SELECT auth.create_key('{alg}')"),
        ));
    }
    let oct_secret = b"an imported HS256 secret, 32 bytes or more".to_vec();
    let jwk = json!({"kty": "oct", "alg": "HS256", "kid": "imported-hs256",
                     "k": auth_core::b64url_encode(&oct_secret)});
    kids.push(text(
        &mut admin,
        &format!("SELECT auth.import_key('{jwk}')"),
    ));
    let hs_tokens: Vec<String> = [&legacy, &kids[4], &kids[5]]
        .iter()
        .map(|kid| sign(&mut admin, kid))
        .collect();
    for kid in &kids {
        sign(&mut admin, kid);
    }
    assert!(hs_key_verifies(LEGACY_SECRET.as_bytes(), &hs_tokens[0]));
    assert!(hs_key_verifies(&oct_secret, &hs_tokens[2]));

    // pg_dump of the database, scanned for loadable private keys and HMAC secrets.
    let dir = scratch("dump");
    let dump = dir.join("dump.sql");
    let out = Command::new(pg_program("pg_dump"))
        .args(["-h", cluster.dir().to_str().unwrap()])
        .args([
            "-p",
            &cluster.port().to_string(),
            "-U",
            "postgres",
            "-d",
            "postgres",
        ])
        .arg("-f")
        .arg(&dump)
        .output()
        .expect("run pg_dump");
    assert!(
        out.status.success(),
        "pg_dump: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let hints = json!({
        "secrets": [hex(LEGACY_SECRET.as_bytes()), hex(&oct_secret)],
        "hs_tokens": hs_tokens,
    });
    let report = run_scanner(&dump, &hints);
    // migrate_legacy_secret also made a standby ES256 key.
    let rows: i64 = admin
        .query_one(&format!("SELECT count(*) FROM {PRIVATE}._keys"), &[])
        .unwrap()
        .get(0);
    assert_eq!(rows, kids.len() as i64 + 1);
    assert_eq!(
        report["tables"][format!("{PRIVATE}._keys")],
        rows,
        "the dump holds every key row: {report}"
    );
    assert!(report["bytea_values"].as_i64().unwrap() >= 2 * rows);
    assert_eq!(report["loadable"], json!([]), "{report}");
    assert_eq!(report["hmac_keys"], json!([]), "{report}");
    assert_eq!(report["secrets"], json!([]), "{report}");

    // The scanner does find plaintext keys and secrets (positive control).
    let plain = SigningKey::generate(Alg::ES256).unwrap();
    let hs_secret = b"a plaintext HMAC secret, 32 bytes or more";
    fs::write(
        dir.join("plain.sql"),
        format!(
            "COPY {PRIVATE}._keys (kid, verify_key, private_key) FROM stdin;\nk\t\\\\x{}\t\\\\x{}\n\\.\n",
            hex(hs_secret),
            hex(plain.private_bytes())
        ),
    )
    .unwrap();
    let control = run_scanner(
        &dir.join("plain.sql"),
        &json!({"secrets": [hex(hs_secret)], "hs_tokens": [hs256_token(hs_secret, "k")]}),
    );
    assert_eq!(
        control["loadable"].as_array().unwrap().len(),
        1,
        "{control}"
    );
    assert_eq!(
        control["hmac_keys"].as_array().unwrap().len(),
        1,
        "{control}"
    );
    assert_eq!(control["secrets"].as_array().unwrap().len(), 1, "{control}");
    fs::remove_dir_all(dir).ok();

    // A member of pg_read_all_data reads the tables and finds only sealed values.
    admin
        .batch_execute("CREATE ROLE sealing_reader LOGIN IN ROLE pg_read_all_data")
        .unwrap();
    let mut reader = connect_as(&cluster, "sealing_reader");
    let rows = reader
        .query(
            &format!("SELECT kid, alg, verify_key, private_key FROM {PRIVATE}._keys"),
            &[],
        )
        .expect("pg_read_all_data reads the key table");
    assert_eq!(rows.len(), kids.len() + 1);
    let mut kek_ids = std::collections::HashSet::new();
    for row in rows {
        let (kid, alg): (String, String) = (row.get(0), row.get(1));
        let alg = Alg::parse(&alg).unwrap();
        let verify_key: Vec<u8> = row.get(2);
        let private_key: Vec<u8> = row.get(3);
        assert!(is_sealed(&private_key), "{kid}: private key not sealed");
        kek_ids.insert(auth_core::sealed_by(&private_key).unwrap());
        if alg.is_hmac() {
            // Any bytes are an HMAC key: what matters is that none verifies a token.
            for value in [&verify_key, &private_key] {
                for token in &hs_tokens {
                    assert!(
                        !hs_key_verifies(value, token),
                        "{kid}: a stored HMAC key works"
                    );
                }
            }
        } else {
            assert!(
                SigningKey::from_private(alg, &private_key).is_err(),
                "{kid}: the stored private key loads as a key"
            );
        }
        if alg.is_hmac() {
            assert!(is_sealed(&verify_key), "{kid}: HMAC secret not sealed");
            for secret in [LEGACY_SECRET.as_bytes(), &oct_secret] {
                assert!(!verify_key.windows(secret.len()).any(|w| w == secret));
                assert!(!private_key.windows(secret.len()).any(|w| w == secret));
            }
        } else {
            assert!(
                !is_sealed(&verify_key),
                "{kid}: public keys stay in the clear"
            );
        }
    }
    assert_eq!(kek_ids.len(), 1, "one KEK sealed everything");
    // The key file is not readable through SQL by that role either.
    let (code, _) = refusal(
        &mut reader,
        &format!("SELECT pg_read_binary_file('{KEK_FILE}')"),
    );
    assert_eq!(code, "42501");
}

/// Does `key`, taken as an HS256 secret, make `token`'s signature?
fn hs_key_verifies(key: &[u8], token: &str) -> bool {
    let Ok(key) = SigningKey::from_private(Alg::HS256, key) else {
        return false;
    };
    let (input, signature) = token.rsplit_once('.').unwrap();
    key.sign(input.as_bytes()).unwrap() == auth_core::b64url_decode(signature).unwrap()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn root_key_is_shown_to_superusers_only_and_set_in_the_configuration_only() {
    let cluster = Cluster::start_with_conf(
        "sealing-root-key",
        &[
            format!("auth.root_key = '{ROOT_A}'").as_str(),
            format!("auth.previous_root_key = '{ROOT_B}'").as_str(),
        ],
    );
    let mut admin = cluster.connect_with_extension();
    admin
        .batch_execute(
            "CREATE ROLE sealing_monitor LOGIN IN ROLE pg_monitor;
             CREATE ROLE sealing_settings LOGIN IN ROLE pg_read_all_settings;
             CREATE ROLE sealing_nobody LOGIN",
        )
        .unwrap();
    for role in ["sealing_monitor", "sealing_settings"] {
        let mut c = connect_as(&cluster, role);
        for name in ["auth.root_key", "auth.previous_root_key"] {
            assert_eq!(
                text(&mut c, &format!("SELECT current_setting('{name}')")),
                "(hidden)",
                "{role}: current_setting('{name}')"
            );
            assert_eq!(text(&mut c, &format!("SHOW {name}")), "(hidden)");
        }
        let everything = text(
            &mut c,
            "SELECT (SELECT string_agg(s::text, ',') FROM pg_settings s) || (SELECT count(*) FROM pg_settings WHERE name LIKE 'auth.%root_key')",
        );
        for key in [ROOT_A, ROOT_B] {
            assert!(
                !everything.contains(key),
                "{role} finds a root key in pg_settings"
            );
        }
        assert!(
            everything.ends_with('0'),
            "{role} sees the root keys in pg_settings"
        );
    }
    // Superusers see them.
    assert_eq!(text(&mut admin, "SHOW auth.root_key"), ROOT_A);
    assert_eq!(
        text(
            &mut admin,
            "SELECT current_setting('auth.previous_root_key')"
        ),
        ROOT_B
    );
    let mut nobody = connect_as(&cluster, "sealing_nobody");
    let (code, _) = refusal(&mut nobody, "SELECT current_setting('auth.root_key')");
    assert_eq!(code, "42501");

    // Only the configuration file (or ALTER SYSTEM) may set them: never a session, a function,
    // a database or a role, whose settings every role can read in pg_db_role_setting.
    for name in ["auth.root_key", "auth.previous_root_key"] {
        for sql in [
            format!("ALTER DATABASE postgres SET {name} = '{ROOT_B}'"),
            format!("ALTER ROLE sealing_nobody SET {name} = '{ROOT_B}'"),
            format!("ALTER ROLE sealing_nobody IN DATABASE postgres SET {name} = '{ROOT_B}'"),
            format!("ALTER ROLE ALL SET {name} = '{ROOT_B}'"),
            format!("SET {name} = '{ROOT_B}'"),
            format!("SELECT set_config('{name}', '{ROOT_B}', false)"),
            format!("CREATE FUNCTION sealing_f() RETURNS int LANGUAGE sql SET {name} = '{ROOT_B}' AS 'SELECT 1'"),
        ] {
            let (code, message) = refusal(&mut admin, &sql);
            assert_eq!(code, "55P02", "{sql}: {message}");
            assert!(!message.contains(ROOT_B), "{sql}: the error shows the key");
        }
    }
    assert_eq!(
        text(&mut admin, "SELECT count(*)::text FROM pg_db_role_setting"),
        "0"
    );
}

#[test]
fn signing_without_the_kek_file_fails_and_changes_nothing() {
    let cluster = Cluster::start("sealing-kek-file");
    let mut admin = cluster.connect_with_extension();
    // CREATE EXTENSION made the key file: 32 bytes, mode 0600, owned like the data directory.
    let path = kek_path(&cluster);
    let meta = fs::metadata(&path).expect("CREATE EXTENSION creates pg_auth_keys.kek");
    assert_eq!(meta.len(), 32);
    assert_eq!(meta.mode() & 0o777, 0o600);
    assert_eq!(meta.uid(), fs::metadata(cluster.data_dir()).unwrap().uid());
    let original = fs::read(&path).unwrap();

    let es = text(&mut admin, "SELECT auth.create_key('ES256')");
    let hs = text(&mut admin, "SELECT auth.create_key('HS256')");
    sign(&mut admin, &es);
    sign(&mut admin, &hs);
    let before = key_state(&mut admin);

    let moved = cluster.data_dir().join("kek.moved-away");
    let mut other = [0u8; 32];
    other[0] = original[0] ^ 1;
    for (case, setup, message) in [
        ("removed", None, "key-encryption key missing"),
        (
            "replaced",
            Some((other.to_vec(), 0o600)),
            "key-encryption key missing",
        ),
        (
            "readable by others",
            Some((original.clone(), 0o644)),
            "mode 0644",
        ),
        (
            "readable by the group",
            Some((original.clone(), 0o640)),
            "mode 0640",
        ),
        (
            "too short",
            Some((original[..31].to_vec(), 0o600)),
            "not a pg_auth_keys key file",
        ),
        (
            "too long",
            Some(([&original[..], b"\n"].concat(), 0o600)),
            "not a pg_auth_keys key file",
        ),
    ] {
        fs::rename(&path, &moved).unwrap();
        if let Some((bytes, mode)) = &setup {
            write_kek(&cluster, bytes, *mode);
        }
        // A new session, and the one that signed before: both refuse.
        for c in [&mut cluster.connect(), &mut admin] {
            for kid in [&es, &hs] {
                let (code, msg) = refusal(
                    c,
                    &format!(r#"SELECT auth.sign_jwt('{{"role":"anon"}}', '{kid}')"#),
                );
                assert_eq!(code, "55000", "{case}: {msg}");
                assert!(msg.contains(message), "{case}: {msg}");
            }
        }
        assert_eq!(key_state(&mut admin), before, "{case}: something changed");
        if setup.is_none() {
            assert!(!path.exists(), "signing re-created the key file");
        }
        let _ = fs::remove_file(&path);
        fs::rename(&moved, &path).unwrap();
    }
    // The original file back: signing works again.
    sign(&mut admin, &es);
    sign(&mut cluster.connect(), &hs);
}

#[test]
fn without_the_kek_hs256_tokens_are_refused_with_a_reason_and_es256_tokens_verify() {
    let mut cluster = Cluster::start_with_conf("sealing-hs", &["auth.jwks_cache_ttl = 0"]);
    let mut admin = cluster.connect_with_extension();
    let legacy = text(
        &mut admin,
        &format!("SELECT legacy_kid FROM auth.migrate_legacy_secret('{LEGACY_SECRET}')"),
    );
    let hs_token = sign(&mut admin, &legacy);
    let es = text(&mut admin, "SELECT auth.rotate_key(force => true)");
    let es_token = sign(&mut admin, &es);
    drop(admin);

    // The database without its KEK: a copy, or a data directory whose key file was lost.
    cluster.stop();
    let path = kek_path(&cluster);
    let moved = cluster.data_dir().join("kek.moved-away");
    fs::rename(&path, &moved).expect("the key file exists");
    cluster.start_again();
    let mut c = cluster.connect();
    let es_sub = text(
        &mut c,
        &format!("SELECT auth.verify_jwt('{es_token}') ->> 'sub'"),
    );
    assert_eq!(es_sub, "s", "an ES256 token needs no KEK");
    let (code, message) = refusal(&mut c, &format!("SELECT auth.verify_jwt('{hs_token}')"));
    assert_eq!(code, "28000");
    assert_eq!(message, "key unavailable: key-encryption key missing");
    assert_eq!(
        text(
            &mut c,
            &format!("SELECT coalesce(auth.try_verify_jwt('{hs_token}')::text, 'refused')")
        ),
        "refused"
    );
    assert_eq!(
        text(
            &mut c,
            &format!("SELECT auth.inspect_jwt('{hs_token}') ->> 'reason'")
        ),
        "key unavailable: key-encryption key missing"
    );
    assert_ne!(
        text(
            &mut c,
            "SELECT auth.stats() -> 'verify_failed_by_reason' ->> 'key_unavailable'"
        ),
        "0"
    );
    // The legacy secret also verifies tokens without a kid: refused the same way.
    let kidless = {
        let key = SigningKey::from_private(Alg::HS256, LEGACY_SECRET.as_bytes()).unwrap();
        let claims = json!({"role": "anon", "exp": 4102444800u64});
        let t = auth_core::sign_compact(&key, "x", claims.as_object().unwrap()).unwrap();
        // Re-encode the header without its kid.
        let header = auth_core::b64url_encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let payload = t.split('.').nth(1).unwrap().to_string();
        let input = format!("{header}.{payload}");
        let sig = key.sign(input.as_bytes()).unwrap();
        format!("{input}.{}", auth_core::b64url_encode(&sig))
    };
    let (code, message) = refusal(&mut c, &format!("SELECT auth.verify_jwt('{kidless}')"));
    assert_eq!(
        (code.as_str(), message.as_str()),
        ("28000", "key unavailable: key-encryption key missing")
    );

    // The key file restored: HS256 tokens verify again without a restart, at once in a new
    // session and within seconds in one that saw the key unavailable.
    fs::rename(&moved, &path).unwrap();
    text(
        &mut cluster.connect(),
        &format!("SELECT auth.verify_jwt('{hs_token}')::text"),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while c
        .query_one(&format!("SELECT auth.verify_jwt('{kidless}')"), &[])
        .is_err()
    {
        assert!(Instant::now() < deadline, "HS256 tokens stay refused");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Every sealed value and the KEK ids in their headers.
fn sealed_values(client: &mut Client) -> Vec<(String, Vec<u8>)> {
    client
        .query(
            &format!(
                "SELECT kid || ' private_key', private_key FROM {PRIVATE}._keys WHERE private_key IS NOT NULL
                 UNION ALL SELECT kid || ' verify_key', verify_key FROM {PRIVATE}._keys WHERE alg LIKE 'HS%'
                 UNION ALL SELECT id || ' sealed_key', sealed_key FROM {PRIVATE}._api_keys WHERE sealed_key IS NOT NULL"
            ),
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

#[test]
fn rekey_moves_every_sealed_value_to_a_new_root_key_or_changes_nothing() {
    let cluster = Cluster::start_with_conf(
        "sealing-rekey",
        &[
            "auth.jwks_cache_ttl = 0",
            format!("auth.root_key = '{ROOT_A}'").as_str(),
        ],
    );
    let mut admin = cluster.connect_with_extension();
    assert!(
        !kek_path(&cluster).exists(),
        "with auth.root_key set there is no key file"
    );
    let legacy = text(
        &mut admin,
        &format!("SELECT legacy_kid FROM auth.migrate_legacy_secret('{LEGACY_SECRET}')"),
    );
    let hs_token = sign(&mut admin, &legacy);
    let es = text(&mut admin, "SELECT auth.rotate_key(force => true)");
    let api_key = text(
        &mut admin,
        "SELECT auth.create_api_key('secret', 'revealable')",
    );
    let api_id = text(
        &mut admin,
        "SELECT id::text FROM auth.api_keys WHERE name = 'revealable'",
    );
    let before = sealed_values(&mut admin);
    // The legacy secret's private key and HMAC secret, the ES256 key's private key, the API key.
    assert_eq!(before.len(), 4, "{before:?}");
    let kek_a = auth_core::sealed_by(&before[0].1).unwrap();
    assert!(before
        .iter()
        .all(|(_, v)| auth_core::sealed_by(v) == Ok(kek_a)));

    // A new root key: what the old one sealed is unavailable, and rekey cannot open it.
    configure(&cluster, "auth.root_key", Some(ROOT_B));
    // The reload is logged without the value.
    assert!(cluster
        .log()
        .contains("parameter \"auth.root_key\" changed"));
    let mut admin = cluster.connect();
    let (code, message) = refusal(&mut admin, &format!("SELECT auth.sign_jwt('{{}}', '{es}')"));
    assert_eq!(code, "55000", "{message}");
    assert!(
        message.contains(&format!("key-encryption key {kek_a}")),
        "{message}"
    );
    let (code, _) = refusal(
        &mut admin,
        &format!("SELECT auth.reveal_api_key('{api_id}')"),
    );
    assert_eq!(code, "55000");
    let state = key_state(&mut admin);
    let (code, message) = refusal(&mut admin, "SELECT auth.rekey()");
    assert_eq!(code, "55000", "{message}");
    assert!(message.contains("4 sealed values"), "{message}");
    assert_eq!(
        key_state(&mut admin),
        state,
        "a failed rekey changed something"
    );
    assert_eq!(sealed_values(&mut admin), before);

    // Not for key administrators: superuser only.
    admin
        .batch_execute("CREATE ROLE sealing_admin LOGIN; SELECT auth.grant_admin('sealing_admin')")
        .unwrap();
    let (code, _) = refusal(
        &mut connect_as(&cluster, "sealing_admin"),
        "SELECT auth.rekey()",
    );
    assert_eq!(code, "42501");

    // With the old key as auth.previous_root_key: everything opens, and rekey moves it all.
    configure(&cluster, "auth.previous_root_key", Some(ROOT_A));
    let mut admin = cluster.connect();
    sign(&mut admin, &es);
    assert_eq!(text(&mut admin, "SELECT auth.rekey()::text"), "4");
    let after = sealed_values(&mut admin);
    let kek_b = auth_core::sealed_by(&after[0].1).unwrap();
    assert_ne!(kek_a, kek_b);
    assert!(
        after
            .iter()
            .all(|(_, v)| auth_core::sealed_by(v) == Ok(kek_b)),
        "{after:?}"
    );
    assert_eq!(
        text(
            &mut admin,
            &format!("SELECT concat_ws(' ', detail ->> 'kek', detail ->> 'resealed', actor) FROM {PRIVATE}.key_events WHERE action = 'rekey'")
        ),
        format!("{kek_b} 4 postgres")
    );

    // The old key is no longer needed.
    configure(&cluster, "auth.previous_root_key", None);
    let mut admin = cluster.connect();
    let token = sign(&mut admin, &es);
    text(
        &mut admin,
        &format!("SELECT auth.verify_jwt('{token}')::text"),
    );
    text(
        &mut admin,
        &format!("SELECT auth.verify_jwt('{hs_token}')::text"),
    );
    sign(&mut admin, &legacy);
    assert_eq!(
        text(
            &mut admin,
            &format!("SELECT auth.reveal_api_key('{api_id}')")
        ),
        api_key
    );
    assert!(!kek_path(&cluster).exists(), "no key file was made");
    let log = cluster.log();
    for key in [ROOT_A, ROOT_B] {
        assert!(!log.contains(key), "the server log holds a root key");
    }
}

#[test]
fn a_root_key_set_later_opens_nothing_new_until_rekey_moves_the_keys_off_the_file() {
    let mut cluster = Cluster::start("sealing-file-to-root");
    let mut admin = cluster.connect_with_extension();
    let es = text(&mut admin, "SELECT auth.create_key('ES256')");
    let file_kek = auth_core::sealed_by(&sealed_values(&mut admin)[0].1).unwrap();
    configure(&cluster, "auth.root_key", Some(ROOT_A));
    let mut admin = cluster.connect();
    // Sealed under the file, still opened with it; new keys are sealed under the root key.
    sign(&mut admin, &es);
    let newer = text(&mut admin, "SELECT auth.create_key('EdDSA')");
    let values = sealed_values(&mut admin);
    let root_kek = values
        .iter()
        .find(|(what, _)| what.starts_with(&newer))
        .map(|(_, v)| auth_core::sealed_by(v).unwrap())
        .unwrap();
    assert_ne!(root_kek, file_kek);
    assert_eq!(text(&mut admin, "SELECT auth.rekey()::text"), "2");
    drop(admin);
    // Now the key file can go: nothing needs it.
    cluster.stop();
    fs::remove_file(kek_path(&cluster)).unwrap();
    cluster.start_again();
    let mut admin = cluster.connect();
    sign(&mut admin, &es);
    sign(&mut admin, &newer);
    assert!(!kek_path(&cluster).exists());
}

#[test]
fn a_standby_copied_after_create_extension_has_the_key_file_and_verifies_hs256() {
    let primary = Cluster::start_with_conf("sealing-standby", &["auth.jwks_cache_ttl = 0"]);
    let mut admin = primary.connect_with_extension();
    let replica = primary.replica();
    // Keys made after the copy: the key file made at CREATE EXTENSION is already there.
    let legacy = text(
        &mut admin,
        &format!("SELECT legacy_kid FROM auth.migrate_legacy_secret('{LEGACY_SECRET}')"),
    );
    let hs_token = sign(&mut admin, &legacy);
    primary.wait_for_replica(&replica);
    assert_eq!(
        fs::read(kek_path(&replica)).expect("pg_basebackup copied the key file"),
        fs::read(kek_path(&primary)).unwrap()
    );
    let mut standby = replica.connect();
    assert_eq!(
        text(
            &mut standby,
            &format!("SELECT auth.verify_jwt('{hs_token}') ->> 'sub'")
        ),
        "s"
    );
}
