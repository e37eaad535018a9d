//! Secret redaction: every token pattern, known values, overlapping secrets, unicode around secrets, borrowing when
//! there is nothing to hide, and a Debug that does not leak.

use std::borrow::Cow;

use hive_cerebrum::{REDACTED, Redactor};

fn check(redactor: &Redactor, input: &str, expected: &str) {
    assert_eq!(redactor.redact(input), expected, "input {input:?}");
}

#[test]
fn token_patterns() {
    let r = Redactor::default();
    let ghp = format!("ghp_{}", "a1B2".repeat(9));
    let gho = format!("gho_{}", "Z".repeat(30));
    let ghs = format!("ghs_{}", "9".repeat(40));
    let pat = format!("github_pat_11AAAA_{}", "x_Y".repeat(20));
    let table = [
        (format!("token={ghp}"), format!("token={REDACTED}")),
        (format!("push failed: {gho}."), format!("push failed: {REDACTED}.")),
        (format!("{ghs}\n"), format!("{REDACTED}\n")),
        (format!("GH_TOKEN='{pat}'"), format!("GH_TOKEN='{REDACTED}'")),
        ("key AKIAIOSFODNN7EXAMPLE end".to_owned(), format!("key {REDACTED} end")),
        ("slack xoxb-123456789012-abcdefABCDEF ok".to_owned(), format!("slack {REDACTED} ok")),
        ("xoxp-1234567890".to_owned(), REDACTED.to_owned()),
        // Too short to be a token of that shape.
        ("ghp_short AKIA1234 xoxb-123".to_owned(), "ghp_short AKIA1234 xoxb-123".to_owned()),
    ];
    for (input, expected) in table {
        check(&r, &input, &expected);
    }
}

#[test]
fn authorization_schemes_keep_the_word() {
    let r = Redactor::default();
    let table = [
        ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.e30.abc123", format!("Authorization: Bearer {REDACTED}")),
        ("authorization: token abcdefghijkl", format!("authorization: token {REDACTED}")),
        ("curl -H 'Authorization: bearer abc.def-ghi_jkl'", format!("curl -H 'Authorization: bearer {REDACTED}'")),
        ("header BEARER 0123456789abcdef", format!("header BEARER {REDACTED}")),
        ("token: 5f3c9a1b2d4e6f70", format!("token: {REDACTED}")),
        ("Bearer dGhpcyBpcyBhIHNlY3JldA==", format!("Bearer {REDACTED}")),
        // Prose about tokens is not a credential.
        ("the token expired, token verification failed", "the token expired, token verification failed".to_owned()),
        ("a bearer bond", "a bearer bond".to_owned()),
    ];
    for (input, expected) in table {
        check(&r, input, &expected);
    }
}

#[test]
fn url_userinfo() {
    let r = Redactor::default();
    let table = [
        ("https://user:pass@github.com/acme/api", format!("https://{REDACTED}@github.com/acme/api")),
        (
            "git clone https://x-access-token:abc@github.com/a/b.git && ok",
            format!("git clone https://{REDACTED}@github.com/a/b.git && ok"),
        ),
        ("postgres://admin:s3cr3t@db:5432/x", format!("postgres://{REDACTED}@db:5432/x")),
        // No userinfo: left alone, even with an @ later in the path or query.
        ("https://github.com/acme/api?by=me@x.org", "https://github.com/acme/api?by=me@x.org".to_owned()),
        ("mail me@example.com", "mail me@example.com".to_owned()),
    ];
    for (input, expected) in table {
        check(&r, input, &expected);
    }
}

#[test]
fn pem_private_keys() {
    let r = Redactor::default();
    let key = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\nabc+/=\n-----END RSA PRIVATE KEY-----";
    check(&r, &format!("before\n{key}\nafter"), &format!("before\n{REDACTED}\nafter"));
    let openssh = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\n-----END OPENSSH PRIVATE KEY-----";
    let plain = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEI\n-----END PRIVATE KEY-----";
    check(&r, &format!("{openssh} mid {plain}"), &format!("{REDACTED} mid {REDACTED}"));
    // A block cut off before its END line is hidden to the end.
    check(&r, "log:\n-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEI\n(truncated)", &format!("log:\n{REDACTED}"));
    // Public material is not a secret.
    let public = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----";
    check(&r, public, public);
}

#[test]
fn known_values() {
    let r = Redactor::new(["correct-horse-battery", "short", "  padded-secret-value\n", "correct-horse-battery"]);
    check(&r, "pw=correct-horse-battery;", &format!("pw={REDACTED};"));
    check(&r, "a correct-horse-battery b correct-horse-battery", &format!("a {REDACTED} b {REDACTED}"));
    check(&r, "value padded-secret-value!", &format!("value {REDACTED}!"));
    // Values under 8 characters would match ordinary words, so they are not known secrets.
    check(&r, "a short text", "a short text");
    assert_eq!(format!("{r:?}"), "Redactor { known_secrets: 2 }");
    // Known values and patterns together.
    let ghp = format!("ghp_{}", "q".repeat(36));
    check(&r, &format!("{ghp} correct-horse-battery"), &format!("{REDACTED} {REDACTED}"));
}

#[test]
fn overlapping_secrets_leave_no_fragment() {
    let r = Redactor::new(["abcdefgh12", "gh12345678", "12345678"]);
    check(&r, "x abcdefgh12345678 y", &format!("x {REDACTED} y"));
    // Adjacent secrets become one replacement.
    check(&r, "abcdefgh12gh12345678", REDACTED);
    // A secret inside a token pattern.
    let token = format!("ghp_{}abcdefgh12{}", "Q".repeat(20), "W".repeat(10));
    check(&r, &format!("<{token}>"), &format!("<{REDACTED}>"));
    // A known value that repeats with overlap: "aaaaaaaaa" holds "aaaaaaaa" twice.
    let r = Redactor::new(["aaaaaaaa"]);
    check(&r, "baaaaaaaaab", &format!("b{REDACTED}b"));
}

#[test]
fn unicode_around_secrets() {
    let r = Redactor::new(["sécret-välue-🐝"]);
    check(&r, "🐝ключ=sécret-välue-🐝… ok", &format!("🐝ключ={REDACTED}… ok"));
    let ghp = format!("ghp_{}", "Ab3".repeat(12));
    check(&r, &format!("日本語{ghp}日本語"), &format!("日本語{REDACTED}日本語"));
    check(&r, "€€€€ no secret ✓", "€€€€ no secret ✓");
}

#[test]
fn text_without_secrets_is_borrowed() {
    let r = Redactor::new(["super-secret-value"]);
    for text in ["", "plain text", "https://github.com/acme/api", "token verification", "ünïcödé 🐝"] {
        assert!(matches!(r.redact(text), Cow::Borrowed(_)), "{text:?} was copied");
    }
    assert!(matches!(r.redact("super-secret-value"), Cow::Owned(_)));
}

#[test]
fn debug_does_not_leak() {
    let secret = "do-not-print-me-please";
    let r = Redactor::new([secret.to_owned()]);
    let debug = format!("{r:?} {r:#?} {:?}", r.clone());
    assert!(!debug.contains(secret) && !debug.contains("do-not"), "{debug}");
    assert!(debug.contains('1'), "{debug}");
    assert_eq!(format!("{:?}", Redactor::default()), "Redactor { known_secrets: 0 }");
}

#[test]
fn terminal_text_is_cleaned_before_it_is_redacted() {
    let known = "known-secret-value";
    let r = Redactor::new([known]);
    let ghp = format!("ghp_{}", "Ab3".repeat(12));
    let (half_a, half_b) = ghp.split_at(10);
    // An escape sequence inside a token would hide it from the patterns if it were removed after redaction.
    let hostile = format!("job\x1b]0;pwned\x07 {half_a}\x1b[0m{half_b} known-\x1b[2Jsecret-value\nnext");
    assert_eq!(r.terminal_line(&hostile), format!("job {REDACTED} {REDACTED}\u{fffd}next"));
    assert_eq!(r.terminal_text(&hostile), format!("job {REDACTED} {REDACTED}\nnext"));
    assert_eq!(r.terminal_line("https://u:pw@h/x"), format!("https://{REDACTED}@h/x"));
}
