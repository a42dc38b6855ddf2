//! API key format (contract §4).

use pg_auth_keys_core::*;

const ALPHABET: &str = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

fn sha256(s: &str) -> [u8; 32] {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, s.as_bytes());
    d.as_ref().try_into().unwrap()
}

#[test]
fn generate_and_parse() {
    for (kind, prefix, len) in [
        (ApiKeyKind::Publishable, "sb_publishable_", 15 + 32 + 6),
        (ApiKeyKind::Secret, "sb_secret_", 10 + 32 + 6),
    ] {
        assert_eq!(ApiKeyKind::parse(kind.as_str()), Some(kind));
        let k = generate_api_key(kind);
        assert!(k.full.starts_with(prefix), "{}", k.prefix);
        assert_eq!(k.full.len(), len);
        assert_eq!(kind.key_len(), len);
        assert!(k.full[prefix.len()..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric()));
        assert!(k.full.starts_with(&k.prefix) && k.prefix.len() == prefix.len() + 4);
        assert_eq!(k.hash, sha256(&k.full));
        assert_eq!(parse_api_key(&k.full), Ok((kind, k.hash)));
        assert!(
            !format!("{k:?}").contains(&k.full[prefix.len() + 4..]),
            "Debug hides the key"
        );
        let again = generate_api_key(kind);
        assert_ne!(again.full, k.full);
        assert_ne!(again.hash, k.hash);
    }
    assert_eq!(ApiKeyKind::parse("Secret"), None);
    assert_eq!(ApiKeyKind::parse("anon"), None);
}

#[test]
fn every_single_character_typo_fails_the_checksum() {
    let k = generate_api_key(ApiKeyKind::Secret);
    let start = "sb_secret_".len();
    for pos in start..k.full.len() {
        for c in ALPHABET.chars() {
            if k.full.as_bytes()[pos] as char == c {
                continue;
            }
            let mut typo = k.full.clone();
            typo.replace_range(pos..pos + 1, &c.to_string());
            assert_eq!(
                parse_api_key(&typo),
                Err(ApiKeyError::BadChecksum),
                "{pos} {c}"
            );
        }
    }
    // adjacent transposition
    let mut chars: Vec<char> = k.full.chars().collect();
    let i = (start..chars.len() - 1)
        .find(|&i| chars[i] != chars[i + 1])
        .unwrap();
    chars.swap(i, i + 1);
    let swapped: String = chars.into_iter().collect();
    assert_eq!(parse_api_key(&swapped), Err(ApiKeyError::BadChecksum));
}

#[test]
fn malformed_keys() {
    let k = generate_api_key(ApiKeyKind::Publishable);
    let body = &k.full["sb_publishable_".len()..];
    for bad in [
        String::new(),
        "sb_".into(),
        format!("sb_public_{body}"),
        format!("SB_PUBLISHABLE_{body}"),
        format!("{}x", k.full),
        k.full[..k.full.len() - 1].to_string(),
        format!(" {}", k.full),
        format!("{} ", k.full),
        k.full.replacen(&body[..1], "-", 1),
        k.full.replacen(&body[..1], "é", 1),
        format!("eyJhbGciOiJIUzI1NiJ9.{body}"),
    ] {
        assert_eq!(parse_api_key(&bad), Err(ApiKeyError::Malformed), "{bad:?}");
    }
    // The checksum covers the prefix: the same body under the other kind's prefix fails it.
    assert_eq!(
        parse_api_key(&format!("sb_secret_{body}")),
        Err(ApiKeyError::BadChecksum)
    );
    assert_eq!(ApiKeyError::Malformed.to_string(), "malformed api key");
}

#[test]
fn characters_are_roughly_uniform() {
    // 32 chars x 400 keys = 12800 samples over 62 symbols: every symbol appears, none dominates.
    let mut counts = [0usize; 62];
    for _ in 0..400 {
        let k = generate_api_key(ApiKeyKind::Secret);
        for c in k.full["sb_secret_".len().."sb_secret_".len() + API_KEY_BODY_CHARS].chars() {
            counts[ALPHABET.find(c).unwrap()] += 1;
        }
    }
    let (min, max) = (counts.iter().min().unwrap(), counts.iter().max().unwrap());
    assert!(*min > 100 && *max < 330, "{counts:?}");
}
