use super::*;

const HASH: &str = "$2y$10$Hy4u1Hl0uqRVtm4QBlXSROt2ztx6wuY9qT0vBxmfA7uqOx5rZW.6e";

fn ok(text: &str) -> WebConfig {
    parse(text, Path::new("/etc/pg")).unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

fn err(text: &str) -> String {
    parse(text, Path::new("/etc/pg")).expect_err(text)
}

fn tls(text: &str) -> TlsConfig {
    ok(text).tls.expect("TLS configured")
}

fn file(path: &str) -> Pem {
    Pem::File(PathBuf::from(path))
}

fn inline(text: &str) -> Pem {
    Pem::Inline(text.to_string())
}

#[test]
fn rate_limits() {
    let limit = ok("rate_limit:\n  interval: 100ms\n  burst: 20\n").rate_limit;
    assert_eq!(
        limit,
        Some(RateLimit {
            interval: std::time::Duration::from_millis(100),
            burst: 20
        })
    );
    // Without an interval there is no limit, as upstream.
    assert_eq!(ok("rate_limit:\n  burst: 1\n").rate_limit, None);
    assert_eq!(ok("rate_limit:\n").rate_limit, None);
}

#[test]
fn empty_files_ask_for_nothing() {
    for text in [
        "",
        "\n# nothing\n",
        "tls_server_config:\n",
        "basic_auth_users:\n",
    ] {
        assert_eq!(ok(text), WebConfig::default(), "{text:?}");
    }
    // Empty paths and no client auth: plain HTTP, as upstream.
    let text = "tls_server_config:\n  cert_file: \"\"\n  key_file: ''\n  min_version: TLS13\n";
    assert_eq!(ok(text).tls, None);
}

#[test]
fn tls_sections() {
    let t = tls("tls_server_config:\n  cert_file: \"server.crt\"\n  key_file: /abs/server.key\n");
    assert_eq!(t.cert, file("/etc/pg/server.crt"));
    assert_eq!(t.key, file("/abs/server.key"));
    assert_eq!(t.client_auth, ClientAuth::NoClientCert);
    assert_eq!(t.client_ca, None);
    assert_eq!(
        (t.min_version, t.max_version),
        (TlsVersion::Tls12, TlsVersion::Tls13)
    );

    let t = tls(concat!(
        "tls_server_config:\n",
        "  cert_file: a.crt\n",
        "  key_file: a.key\n",
        "  client_auth_type: \"RequireAndVerifyClientCert\"\n",
        "  client_ca_file: ca/clients.pem\n",
        "  min_version: TLS13\n",
        "  max_version: TLS13\n",
        "  prefer_server_cipher_suites: false\n",
    ));
    assert_eq!(t.client_auth, ClientAuth::RequireAndVerifyClientCert);
    assert_eq!(t.client_ca, Some(file("/etc/pg/ca/clients.pem")));
    assert_eq!(t.min_version, TlsVersion::Tls13);

    for (name, want) in [
        ("NoClientCert", ClientAuth::NoClientCert),
        ("RequestClientCert", ClientAuth::RequestClientCert),
        ("RequireAnyClientCert", ClientAuth::RequireAnyClientCert),
        ("RequireClientCert", ClientAuth::RequireAnyClientCert),
        (
            "VerifyClientCertIfGiven",
            ClientAuth::VerifyClientCertIfGiven,
        ),
    ] {
        let text = format!(
            "tls_server_config:\n  cert_file: c\n  key_file: k\n  client_auth_type: {name}\n  \
             client_ca_file: ca\n"
        );
        let text = if want == ClientAuth::NoClientCert {
            text.replace("  client_ca_file: ca\n", "")
        } else {
            text
        };
        assert_eq!(tls(&text).client_auth, want, "{name}");
    }
}

#[test]
fn inline_pem() {
    let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    let block = "    -----BEGIN CERTIFICATE-----\n    MIIB\n    -----END CERTIFICATE-----\n";
    let t = tls(&format!(
        "tls_server_config:\n  cert: |\n{block}  key: \"KEY\\n\"\n  client_auth_type: \
         RequireAndVerifyClientCert\n  client_ca: |\n{block}\n  min_version: TLS13\n"
    ));
    assert_eq!(t.cert, inline(pem));
    assert_eq!(t.key, inline("KEY\n"));
    assert_eq!(t.client_ca, Some(inline(pem)));
    assert_eq!(t.min_version, TlsVersion::Tls13);

    // Inline and file mixed; where both are given the file counts, as upstream has it.
    let t = tls(concat!(
        "tls_server_config:\n",
        "  cert_file: c.pem\n",
        "  cert: ignored\n",
        "  key: K\n",
        "  key_file: ''\n",
        "  client_auth_type: RequireAnyClientCert\n",
        "  client_ca: CA\n",
        "  client_ca_file: ca.pem\n",
    ));
    assert_eq!(t.cert, file("/etc/pg/c.pem"));
    assert_eq!(t.key, inline("K"));
    assert_eq!(t.client_ca, Some(file("/etc/pg/ca.pem")));

    // An empty inline value is no value, as upstream reads it.
    let text = "tls_server_config:\n  cert: ''\n  key:\n  client_ca: |\n";
    assert_eq!(ok(text).tls, None);
    let e = err("tls_server_config:\n  cert: ''\n  key: k\n");
    assert!(e.contains("missing cert_file (or an inline cert)"), "{e}");
}

#[test]
fn client_allowed_sans() {
    let base = "tls_server_config:\n  cert_file: c\n  key_file: k\n";
    let sans = |extra: &str| tls(&format!("{base}{extra}")).client_allowed_sans;
    assert_eq!(sans(""), None);
    assert_eq!(sans("  client_allowed_sans:\n"), None);
    // Given but empty: no certificate can match, as upstream reads it.
    assert_eq!(sans("  client_allowed_sans: []\n"), Some(vec![]));
    assert_eq!(
        sans(concat!(
            "  client_allowed_sans:\n",
            "    - \"one\"\n",
            "    - 10.0.0.1\n",
            "    - spiffe://example.org/a\n",
            "    - ops@example.com\n",
        )),
        Some(
            [
                "one",
                "10.0.0.1",
                "spiffe://example.org/a",
                "ops@example.com"
            ]
            .map(String::from)
            .to_vec()
        )
    );
    // Upstream's own example.
    let t = tls(concat!(
        "tls_server_config:\n",
        "  cert_file: \"server.crt\"\n",
        "  key_file: \"server.key\"\n",
        "  client_auth_type: \"RequireAndVerifyClientCert\"\n",
        "  client_ca_file: \"client2_selfsigned.pem\"\n",
        "  client_allowed_sans:\n",
        "    - \"one\"\n",
        "    - \"test3\"\n",
        "    - \"two\"\n",
    ));
    assert_eq!(t.client_allowed_sans.unwrap(), ["one", "test3", "two"]);
    // Alone it does not ask for TLS, as upstream has it.
    assert_eq!(
        ok("tls_server_config:\n  client_allowed_sans: [a]\n").tls,
        None
    );
}

#[test]
fn cipher_suites_and_curves() {
    use CipherSuite::*;
    let base = "tls_server_config:\n  cert_file: c\n  key_file: k\n";
    let with = |extra: &str| tls(&format!("{base}{extra}"));
    let t = with("");
    assert_eq!(t.cipher_suites, None);
    assert!(t.prefer_server_cipher_suites);
    assert_eq!(t.curve_preferences, []);

    // Upstream's own example, with an order of its own.
    let t = with(concat!(
        "  cipher_suites:\n",
        "  - TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384\n",
        "  - TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\n",
        "  min_version: TLS12\n",
        "  max_version: TLS12\n",
        "  prefer_server_cipher_suites: false\n",
    ));
    assert_eq!(
        t.cipher_suites,
        Some(vec![EcdheRsaAes256Gcm, EcdheRsaAes128Gcm])
    );
    assert!(!t.prefer_server_cipher_suites);

    // Every name rustls can honour, TLS 1.3's changing nothing, a repeat counted once.
    let t = with(concat!(
        "  cipher_suites:\n",
        "  - TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256\n",
        "  - TLS_AES_128_GCM_SHA256\n",
        "  - TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256\n",
        "  - TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384\n",
        "  - TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\n",
        "  - TLS_AES_256_GCM_SHA384\n",
        "  - TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384\n",
        "  - TLS_CHACHA20_POLY1305_SHA256\n",
        "  - TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256\n",
        "  - TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256\n",
    ));
    assert_eq!(
        t.cipher_suites,
        Some(vec![
            EcdheEcdsaChacha20,
            EcdheEcdsaAes128Gcm,
            EcdheEcdsaAes256Gcm,
            EcdheRsaAes128Gcm,
            EcdheRsaAes256Gcm,
            EcdheRsaChacha20,
        ])
    );
    // Empty or null: the defaults, as upstream. TLS 1.3 names alone: no TLS 1.2 suite.
    assert_eq!(with("  cipher_suites: []\n").cipher_suites, None);
    assert_eq!(with("  cipher_suites:\n").cipher_suites, None);
    let t = with("  cipher_suites: [TLS_AES_128_GCM_SHA256]\n  max_version: TLS13\n");
    assert_eq!(t.cipher_suites, Some(vec![]));

    let t = with("  curve_preferences: [CurveP384, X25519, CurveP256, X25519]\n");
    assert_eq!(
        t.curve_preferences,
        [Curve::P384, Curve::X25519, Curve::P256]
    );
    assert_eq!(with("  curve_preferences: []\n").curve_preferences, []);
}

#[test]
fn relative_paths_follow_the_file() {
    let dir = std::env::temp_dir().join(format!("pushgate-webconfig-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("web.yml");
    std::fs::write(
        &file,
        "tls_server_config:\n  cert_file: c.pem\n  key_file: k.pem\n",
    )
    .unwrap();
    let t = load(&file).unwrap().tls.unwrap();
    assert_eq!(t.cert, Pem::File(dir.join("c.pem")));
    assert_eq!(t.key, Pem::File(dir.join("k.pem")));
    std::fs::write(&file, "tls_server_config:\n  cert_filse: c.pem\n").unwrap();
    let e = load(&file).unwrap_err();
    assert!(e.starts_with(&file.display().to_string()), "{e}");
    assert!(e.contains("line 2: unknown key \"cert_filse\""), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
    let e = load(&file).unwrap_err();
    assert!(e.contains("web.yml") && e.contains("No such file"), "{e}");
}

#[test]
fn users_and_headers() {
    let cfg = ok(&format!(
        concat!(
            "# users\n",
            "basic_auth_users:\n",
            "  alice: {hash}\n",
            "  'bob smith': \"{hash}\"\n",
            "http_server_config:\n",
            "  http2: false\n",
            "  headers:\n",
            "    X-Frame-Options: deny\n",
            "    Strict-Transport-Security: max-age=31536000; includeSubDomains\n",
            "    X-Content-Type-Options: nosniff\n",
            "    X-XSS-Protection: 1\n",
            "    Content-Security-Policy: \"default-src 'self' *.test.example.net\"\n",
        ),
        hash = HASH
    ));
    assert_eq!(
        cfg.basic_auth_users,
        [
            ("alice".to_string(), HASH.to_string()),
            ("bob smith".to_string(), HASH.to_string())
        ]
    );
    assert_eq!(
        cfg.response_headers(),
        [
            ("X-Frame-Options", "deny".to_string()),
            (
                "Strict-Transport-Security",
                "max-age=31536000; includeSubDomains".to_string()
            ),
            ("X-Content-Type-Options", "nosniff".to_string()),
            ("X-XSS-Protection", "1".to_string()),
            (
                "Content-Security-Policy",
                "default-src 'self' *.test.example.net".to_string()
            ),
        ]
    );
    // Flow style, and a blank value that sets nothing.
    let cfg = ok("http_server_config: {http2: true, headers: {X-XSS-Protection: ''}}\n");
    assert!(cfg.headers.is_empty());
}

#[test]
fn refused_files() {
    let tls = "tls_server_config:\n  cert_file: c\n  key_file: k\n";
    for (text, want) in [
        ("junk\nmore junk\n", "line 1: expected `key: value`"),
        ("- a\n", "the file must be a mapping"),
        (
            "tls_server_config: yes\n",
            "line 1: tls_server_config must be a mapping",
        ),
        (
            "tls_server_config:\n  cert_filse: x\n",
            "line 2: unknown key \"cert_filse\"",
        ),
        (
            "basic_auth: {}\n",
            "line 1: unknown key \"basic_auth\" in the file",
        ),
        (
            "http_server_config:\n  http3: true\n",
            "unknown key \"http3\" in http_server_config",
        ),
        (
            "http_server_config:\n  http2: 'true'\n",
            "http2 must be true or false",
        ),
        (
            "http_server_config:\n  http2: maybe\n",
            "http2 must be true or false",
        ),
        (
            "rate_limit:\n  interval: often\n",
            "line 2: rate_limit.interval \"often\" is not a duration",
        ),
        (
            "rate_limit:\n  burst: -1\n",
            "line 2: rate_limit.burst \"-1\" is not a count",
        ),
        ("rate_limit:\n  every: 1s\n", "every"),
        ("tls_server_config:\n  cert_file: c\n", "missing key_file"),
        ("tls_server_config:\n  key_file: k\n", "missing cert_file"),
        (
            "tls_server_config:\n  client_auth_type: x\n",
            "unknown client_auth_type \"x\"",
        ),
        (
            "tls_server_config:\n  client_ca_file: ca\n",
            "missing cert_file",
        ),
        (
            "tls_server_config:\n  cert_file: [a]\n",
            "line 2: cert_file must be a string",
        ),
        (
            "tls_server_config:\n  key: >\n    x\n",
            "line 2: folded block scalars",
        ),
        (
            "tls_server_config:\n  key: x\n",
            "line 1: tls_server_config: missing cert_file (or an inline cert)",
        ),
        (
            "tls_server_config:\n  cert: x\n",
            "missing key_file (or an inline key)",
        ),
        ("tls_server_config:\n  client_ca: x\n", "missing cert_file"),
        (
            "tls_server_config:\n  cert: [x]\n",
            "line 2: cert must be a string",
        ),
        (
            "tls_server_config:\n  cipher_suites: [A]\n",
            "line 2: cipher_suites: unknown cipher suite \"A\"",
        ),
        (
            "tls_server_config:\n  curve_preferences:\n  - X448\n",
            "line 3: curve_preferences: unknown curve \"X448\"",
        ),
        (
            "tls_server_config:\n  client_allowed_sans: a\n",
            "line 2: client_allowed_sans must be a list",
        ),
        (
            "tls_server_config:\n  client_allowed_sans:\n  - [a]\n",
            "line 3: client_allowed_sans must be a string",
        ),
        (
            "basic_auth_users:\n  john: doe\n",
            "line 2: basic_auth_users: the password of \"john\"",
        ),
        (
            "basic_auth_users: [a]\n",
            "basic_auth_users must be a mapping",
        ),
        (
            "basic_auth_users:\n  a:\n    b: c\n",
            "line 2: a must be a string",
        ),
        ("x:\n  y: z\n", "line 1: unknown key \"x\" in the file"),
        (
            "http_server_config:\n  headers:\n    Content-Type: foo\n",
            "\"Content-Type\" cannot be",
        ),
        (
            "http_server_config:\n  headers:\n    Authorization: x\n",
            "\"Authorization\" cannot be",
        ),
        (
            "http_server_config:\n  headers:\n    x-frame-options: deny\n",
            "cannot be configured",
        ),
        (
            "http_server_config:\n  headers:\n    X-Frame-Options: foo\n",
            "not one of deny, same",
        ),
        (
            "http_server_config:\n  headers:\n    X-Frame-Options: ''\n",
            "not one of deny",
        ),
        (
            "http_server_config:\n  headers:\n    X-Content-Type-Options: sniff\n",
            "not one of nosn",
        ),
    ] {
        let e = err(text);
        assert!(e.contains(want), "{text:?}: {e}");
    }
    for (extra, want) in [
        (
            "  min_version: TLS111\n",
            "line 4: min_version: unknown TLS version \"TLS111\"",
        ),
        ("  min_version: TLS10\n", "TLS10 is not offered by rustls"),
        ("  max_version: TLS11\n", "TLS11 is not offered by rustls"),
        (
            "  min_version: TLS13\n  max_version: TLS12\n",
            "min_version is above max_version",
        ),
        (
            "  client_auth_type: Bogus\n",
            "unknown client_auth_type \"Bogus\"",
        ),
        (
            "  client_ca_file: ca.pem\n",
            "line 1: tls_server_config: client_ca_file is set but client_auth_type is NoClient",
        ),
        (
            "  client_ca: |\n    PEM\n",
            "client_ca is set but client_auth_type is NoClient",
        ),
        (
            "  client_auth_type: VerifyClientCertIfGiven\n",
            "needs client_ca_file",
        ),
        (
            "  client_auth_type: RequireAndVerifyClientCert\n",
            "needs client_ca_file (or an inline client_ca)",
        ),
        (
            "  cert: |\n    x\n  cert: y\n",
            "line 6: key \"cert\" given twice",
        ),
        (
            "  cert_file: again\n",
            "line 4: key \"cert_file\" given twice",
        ),
        (
            "  cipher_suites:\n  - TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\n  \
             - TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA\n",
            "line 6: cipher_suites: TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA is a CBC suite, which \
             rustls (pushgate's TLS) does not implement; the TLS 1.2 suites it can offer are \
             TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, ",
        ),
        (
            "  cipher_suites: [TLS_RSA_WITH_AES_128_GCM_SHA256]\n",
            "line 4: cipher_suites: unknown cipher suite \"TLS_RSA_WITH_AES_128_GCM_SHA256\"",
        ),
        (
            "  cipher_suites: [TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305]\n",
            "unknown cipher suite",
        ),
        (
            "  cipher_suites: TLS_AES_128_GCM_SHA256\n",
            "line 4: cipher_suites must be a list",
        ),
        (
            "  cipher_suites:\n  - {a: b}\n",
            "line 5: cipher_suites must be a string",
        ),
        (
            "  cipher_suites: [TLS_AES_128_GCM_SHA256]\n  max_version: TLS12\n",
            "line 1: tls_server_config: cipher_suites names TLS 1.3 suites only, yet max_version \
             is TLS12",
        ),
        (
            "  curve_preferences:\n  - X25519\n  - CurveP521\n",
            "line 6: curve_preferences: CurveP521 is not offered by ring, the cryptography \
             pushgate's TLS is built on; it offers X25519, CurveP256, CurveP384",
        ),
        (
            "  curve_preferences: [P256]\n",
            "line 4: curve_preferences: unknown curve \"P256\"; expected one of X25519",
        ),
        ("  curve_preferences: [X25519MLKEM768]\n", "unknown curve"),
        (
            "  prefer_server_cipher_suites: 'no'\n",
            "line 4: prefer_server_cipher_suites must be true or false",
        ),
    ] {
        let text = format!("{tls}{extra}");
        let e = err(&text);
        assert!(e.contains(want), "{text:?}: {e}");
    }
}

#[test]
fn bcrypt_hashes_are_checked_for_shape() {
    assert!(is_bcrypt(HASH));
    for variant in ["$2a$", "$2b$", "$2x$"] {
        assert!(is_bcrypt(&HASH.replacen("$2y$", variant, 1)));
    }
    for bad in [
        "",
        "doe",
        &HASH[..59],
        &format!("{HASH}x"),
        &HASH.replacen("$2y$", "$2z$", 1),
        &HASH.replacen("$10$", "$03$", 1),
        &HASH.replacen("$10$", "$32$", 1),
        &HASH.replacen("$10$", "$1a$", 1),
        &HASH.replacen('H', "!", 1),
        &HASH.replacen('H', "é", 1)[..60],
    ] {
        assert!(!is_bcrypt(bad), "{bad:?}");
    }
}

#[test]
fn builds_refuse_what_they_cannot_serve() {
    let both = ok(&format!(
        "basic_auth_users:\n  a: {HASH}\ntls_server_config:\n  cert_file: c\n  key_file: k\n"
    ));
    let plain = Build {
        tls: false,
        basic_auth: false,
    };
    let e = both.check_build(plain).unwrap_err();
    assert!(e.contains("--features tls"), "{e}");
    let e = both
        .check_build(Build {
            tls: true,
            basic_auth: false,
        })
        .unwrap_err();
    assert!(e.contains("--features basic-auth"), "{e}");
    let all = Build {
        tls: true,
        basic_auth: true,
    };
    assert_eq!(both.check_build(all), Ok(()));
    let headers_only = ok("http_server_config:\n  headers:\n    X-Frame-Options: deny\n");
    assert_eq!(headers_only.check_build(plain), Ok(()));
    assert_eq!(WebConfig::default().check_build(plain), Ok(()));
}
