//! Upgrades (`sql/pg_auth_keys--A--B.sql`): a database created at the first release, with keys,
//! tokens and the audit log, keeps all of them through `ALTER EXTENSION pg_auth_keys UPDATE`, and
//! ends with exactly the catalog a fresh install of the current version has (every function
//! with its definition, volatility, security and privileges; every table, column, constraint,
//! index, view and type; the pg_dump configuration).
//!
//! Earlier releases' install scripts are frozen in `sql/archive/` and installed beside the
//! current one by `make install-debug` / `make install`. Each release is upgraded from, so every
//! script of the chain runs at least once from the state its release left.
//!
//! Only the current library is installed: the old release's SQL runs against it, as it does on a
//! server between installing a new version and `ALTER EXTENSION pg_auth_keys UPDATE`. Releases
//! before 0.3.0 kept private keys and HMAC secrets in the clear, and the library keeps to that
//! for such a database; the update seals everything, and nothing is left in the clear.

/// Does `value`, taken as an HS256 secret, make `token`'s signature?
fn hs256_key_of(value: &[u8], token: &str) -> bool {
    let Ok(key) = SigningKey::from_private(Alg::HS256, value) else {
        return false;
    };
    let (input, signature) = token.rsplit_once('.').unwrap();
    key.sign(input.as_bytes()).unwrap() == auth_core::b64url_decode(signature).unwrap()
}

use pg_auth_keys_cluster_tests::{text, Client, Cluster};
use pg_auth_keys_core::{self as auth_core, Alg, SigningKey};

/// Every earlier release, oldest first.
const RELEASES: &[&str] = &["0.1.0", "0.2.0"];
const CONF: &[&str] = &["auth.jwks_cache_ttl = 0"];

/// Everything about the extension's objects that an upgrade must get right, one line each.
const CATALOG: &str = r#"
WITH ext AS (SELECT oid FROM pg_extension WHERE extname = 'pg_auth_keys'),
members AS (
    SELECT d.classid, d.objid FROM pg_depend d, ext
    WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'
)
SELECT line FROM (
    SELECT 'member ' || pg_describe_object(classid, objid, 0) AS line FROM members
    UNION ALL
    SELECT format('function %s(%s) returns %s lang=%s vol=%s par=%s strict=%s secdef=%s config=%s acl=%s src=%s bin=%s',
                  p.proname, pg_get_function_arguments(p.oid), pg_get_function_result(p.oid), l.lanname,
                  p.provolatile, p.proparallel, p.proisstrict, p.prosecdef, p.proconfig, p.proacl,
                  md5(p.prosrc), p.probin)
    FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
    WHERE p.pronamespace = ANY (ARRAY['auth', 'auth_private']::regnamespace[])
    UNION ALL
    SELECT format('relation %s kind=%s acl=%s options=%s', c.relname, c.relkind, c.relacl, c.reloptions)
    FROM pg_class c WHERE c.relnamespace = ANY (ARRAY['auth', 'auth_private']::regnamespace[])
    UNION ALL
    SELECT format('column %s.%s %s notnull=%s default=%s identity=%s', c.relname, a.attname,
                  format_type(a.atttypid, a.atttypmod), a.attnotnull,
                  pg_get_expr(ad.adbin, ad.adrelid), a.attidentity)
    FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    LEFT JOIN pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
    WHERE c.relnamespace = ANY (ARRAY['auth', 'auth_private']::regnamespace[])
    UNION ALL
    SELECT format('constraint %s %s %s', conrelid::regclass, conname, pg_get_constraintdef(oid))
    FROM pg_constraint WHERE connamespace = ANY (ARRAY['auth', 'auth_private']::regnamespace[])
    UNION ALL
    SELECT 'index ' || pg_get_indexdef(i.indexrelid)
    FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relnamespace = ANY (ARRAY['auth', 'auth_private']::regnamespace[])
    UNION ALL
    SELECT format('view %s %s', c.relname, pg_get_viewdef(c.oid))
    FROM pg_class c WHERE c.relnamespace = ANY (ARRAY['auth', 'auth_private']::regnamespace[]) AND c.relkind = 'v'
    UNION ALL
    SELECT format('enum %s %s %s', t.typname, e.enumsortorder, e.enumlabel)
    FROM pg_enum e JOIN pg_type t ON t.oid = e.enumtypid WHERE t.typnamespace = ANY (ARRAY['auth', 'auth_private']::regnamespace[])
    UNION ALL
    SELECT format('dump %s %s', cfg::regclass, cond)
    FROM pg_extension x, unnest(x.extconfig, x.extcondition) AS u(cfg, cond)
    WHERE x.extname = 'pg_auth_keys'
    UNION ALL
    SELECT format('trigger %s %s enabled=%s %s', t.tgrelid::regclass, t.tgname, t.tgenabled,
                  pg_get_triggerdef(t.oid))
    FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
    WHERE NOT t.tgisinternal AND c.relnamespace = ANY (ARRAY['auth', 'auth_private']::regnamespace[])
    UNION ALL
    SELECT format('schema %s acl=%s', nspname, nspacl) FROM pg_namespace
    WHERE nspname IN ('auth', 'auth_private')
) lines ORDER BY line
"#;

fn catalog(client: &mut Client) -> Vec<String> {
    client
        .query(CATALOG, &[])
        .expect("catalog query")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

fn difference(a: &[String], b: &[String]) -> Vec<String> {
    a.iter().filter(|l| !b.contains(l)).cloned().collect()
}

#[test]
fn upgrade_from_the_first_release_keeps_everything_and_matches_a_fresh_install() {
    upgrade_from(RELEASES[0]);
}

#[test]
fn upgrade_from_the_previous_release_keeps_everything_and_matches_a_fresh_install() {
    upgrade_from(RELEASES[RELEASES.len() - 1]);
}

fn upgrade_from(release: &str) {
    let cluster = Cluster::start_with_conf(&format!("upgrade-{release}"), CONF);
    let mut admin = cluster.connect();
    for db in ["upgraded", "fresh"] {
        admin
            .batch_execute(&format!("CREATE DATABASE {db}"))
            .unwrap();
    }

    // The first release, with the legacy secret, rotated keys, a revoked key and tokens.
    let mut old = cluster.connect_to("upgraded");
    old.batch_execute(&format!(
        "CREATE EXTENSION pg_auth_keys VERSION '{release}'"
    ))
    .expect("the old release installs");
    assert_eq!(
        text(
            &mut old,
            "SELECT extversion FROM pg_extension WHERE extname = 'pg_auth_keys'"
        ),
        release
    );
    let legacy = text(
        &mut old,
        "SELECT legacy_kid FROM auth.migrate_legacy_secret('legacy-secret-of-at-least-32-bytes!!')",
    );
    let legacy_token = text(
        &mut old,
        r#"SELECT auth.sign_jwt('{"role":"anon","exp":4102444800}')"#,
    );
    let first = text(&mut old, "SELECT auth.rotate_key(force => true)");
    let first_token = text(
        &mut old,
        r#"SELECT auth.sign_jwt('{"sub":"11111111-1111-1111-1111-111111111111","role":"authenticated"}')"#,
    );
    let second = text(&mut old, "SELECT auth.create_key('EdDSA')");
    text(
        &mut old,
        &format!("SELECT auth.rotate_key('{second}', force => true)"),
    );
    let revoked = text(&mut old, "SELECT auth.create_key('RS256')");
    old.batch_execute(&format!(
        "SELECT auth.move_key('{revoked}', 'previously_used'); SELECT auth.revoke_key('{revoked}', force => true)"
    ))
    .unwrap();
    // API keys exist from 0.2.0 on: one kept, one revoked.
    let api_keys_before = (release != "0.1.0").then(|| {
        let kept = text(&mut old, "SELECT auth.create_api_key('secret', 'kept')");
        let revoked = text(
            &mut old,
            "SELECT auth.create_api_key('publishable', 'revoked')",
        );
        old.batch_execute(
            "SELECT auth.revoke_api_key(id) FROM auth.api_keys WHERE name = 'revoked'",
        )
        .unwrap();
        (kept, revoked)
    });
    // As the old release did, the key table holds the HMAC secret and private keys in the clear.
    let legacy_secret: Vec<u8> = old
        .query_one(
            &format!("SELECT verify_key FROM auth._keys WHERE kid = '{legacy}'"),
            &[],
        )
        .unwrap()
        .get(0);
    assert!(
        hs256_key_of(&legacy_secret, &legacy_token),
        "the old release's state"
    );
    let keys_before = text(
        &mut old,
        "SELECT string_agg(kid || ':' || alg || ':' || state || ':' || can_sign, ',' ORDER BY kid) FROM auth.keys",
    );
    let events_before = text(&mut old, "SELECT count(*)::text FROM auth.key_events");
    let jwks_before = text(&mut old, "SELECT auth.jwks()::text");

    // Releases before 0.3.0 let a superuser keep auth.root_key with ALTER DATABASE, where every
    // role reads it (pg_db_role_setting). PostgreSQL refuses that now; such an entry is written
    // into the catalog directly here, as the old release left it.
    const STORED_ROOT_KEY: &str = "root key stored with ALTER DATABASE, readable by all";
    old.batch_execute(&format!(
        "INSERT INTO pg_db_role_setting
         SELECT oid, 0, ARRAY['auth.root_key={STORED_ROOT_KEY}'] FROM pg_database WHERE datname = 'upgraded'"
    ))
    .unwrap();
    old.batch_execute("ALTER EXTENSION pg_auth_keys UPDATE")
        .expect("ALTER EXTENSION pg_auth_keys UPDATE");
    // The update warns about it, without showing it; what the warning says to do removes it.
    let log = cluster.log();
    assert!(
        log.contains("auth.root_key is stored with ALTER DATABASE or ALTER ROLE"),
        "no warning about the stored root key"
    );
    assert!(
        !log.contains(STORED_ROOT_KEY),
        "the server log shows the stored root key"
    );
    admin
        .batch_execute("ALTER DATABASE upgraded RESET ALL")
        .unwrap();
    assert_eq!(
        text(&mut admin, "SELECT count(*)::text FROM pg_db_role_setting"),
        "0"
    );
    drop(old);

    let mut upgraded = cluster.connect_to("upgraded");
    let mut fresh = cluster.connect_to("fresh");
    fresh
        .batch_execute("CREATE EXTENSION pg_auth_keys")
        .unwrap();
    let current = text(
        &mut fresh,
        "SELECT extversion FROM pg_extension WHERE extname = 'pg_auth_keys'",
    );
    assert_ne!(current, release);
    assert_eq!(
        text(
            &mut upgraded,
            "SELECT extversion FROM pg_extension WHERE extname = 'pg_auth_keys'"
        ),
        current
    );

    // Everything made before is intact.
    assert_eq!(
        text(
            &mut upgraded,
            "SELECT string_agg(kid || ':' || alg || ':' || state || ':' || can_sign, ',' ORDER BY kid) FROM auth.keys"
        ),
        keys_before
    );
    assert_eq!(
        text(&mut upgraded, "SELECT count(*)::text FROM auth.key_events"),
        events_before
    );
    assert_eq!(text(&mut upgraded, "SELECT auth.jwks()::text"), jwks_before);
    for token in [&legacy_token, &first_token] {
        assert!(
            upgraded
                .query_one("SELECT auth.verify_jwt($1)::text", &[token])
                .is_ok(),
            "a token made before the upgrade no longer verifies"
        );
    }
    assert_eq!(
        text(
            &mut upgraded,
            &format!("SELECT state::text FROM auth.keys WHERE kid = '{first}'")
        ),
        "previously_used"
    );
    assert_eq!(
        text(
            &mut upgraded,
            &format!("SELECT state::text FROM auth.keys WHERE kid = '{legacy}'")
        ),
        "previously_used"
    );

    if let Some((kept, revoked)) = &api_keys_before {
        assert_eq!(
            text(
                &mut upgraded,
                &format!("SELECT kind FROM auth.verify_api_key('{kept}')")
            ),
            "secret"
        );
        let refused = upgraded
            .query_one("SELECT kind FROM auth.verify_api_key($1)", &[revoked])
            .expect_err("a revoked api key verified after the upgrade");
        assert_eq!(
            refused.code().map(|c| c.code()),
            Some("28000"),
            "{refused:?}"
        );
    }

    // Nothing is left in the clear: every private key and HMAC secret is sealed, and none loads
    // as a key or makes a token's signature.
    let rows = upgraded
        .query(
            "SELECT kid, alg, verify_key, private_key FROM auth_private._keys ORDER BY kid",
            &[],
        )
        .unwrap();
    assert_eq!(rows.len(), 4);
    for row in &rows {
        let (kid, alg): (String, String) = (row.get(0), row.get(1));
        let alg = Alg::parse(&alg).unwrap();
        let private_key: Vec<u8> = row.get(3);
        let mut sealed = vec![private_key.clone()];
        if alg.is_hmac() {
            sealed.push(row.get(2));
        }
        for value in &sealed {
            assert!(
                auth_core::sealed_by(value).is_ok(),
                "{kid}: not sealed after the upgrade"
            );
            assert!(
                !hs256_key_of(value, &legacy_token),
                "{kid}: the legacy secret is readable"
            );
        }
        if !alg.is_hmac() {
            assert!(
                SigningKey::from_private(alg, &private_key).is_err(),
                "{kid}: loads as a key"
            );
        }
    }
    // And every key that can sign still signs, with its sealed private key.
    for kid in [&legacy, &first, &second] {
        let signed = text(
            &mut upgraded,
            &format!(r#"SELECT auth.sign_jwt('{{"role":"anon","sub":"after"}}', '{kid}')"#),
        );
        assert_eq!(
            text(
                &mut upgraded,
                &format!("SELECT auth.verify_jwt('{signed}') ->> 'sub'")
            ),
            "after",
            "{kid}"
        );
    }

    // The new release's features work on the upgraded database.
    let key = text(
        &mut upgraded,
        "SELECT auth.create_api_key('secret', 'after upgrade')",
    );
    assert_eq!(
        text(
            &mut upgraded,
            &format!("SELECT kind FROM auth.verify_api_key('{key}')")
        ),
        "secret"
    );
    let id = text(
        &mut upgraded,
        &format!("SELECT auth.import_legacy_api_key('{legacy_token}')::text"),
    );
    assert_eq!(id.len(), 36);

    // And the upgraded catalog is exactly a fresh install's.
    let (a, b) = (catalog(&mut upgraded), catalog(&mut fresh));
    assert!(
        a.len() > 100,
        "the catalog query found too little: {}",
        a.len()
    );
    assert!(
        a == b,
        "upgraded and fresh installs differ.\nonly after the upgrade:\n  {}\nonly in a fresh install:\n  {}",
        difference(&a, &b).join("\n  "),
        difference(&b, &a).join("\n  ")
    );
}
