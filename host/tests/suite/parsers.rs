//! Property tests (proptest) over every host parser that takes outside input:
//! the manifest, the package tar and its signature, local return paths,
//! capability names, `http:` origins and the component shape reader.

use citadel_host::capabilities::{self, http::Origin};
use citadel_host::gateway::is_local_path;
use citadel_host::registry::manifest::{is_slug, Localized, Manifest, ManifestError};
use citadel_host::registry::package::{self, Package, PackageError, SignatureFile};
use citadel_host::runtime::limits::{LimitsSpec, MAX_MEMORY_MIB};
use citadel_host::runtime::shape::{self, Shape, ShapeError};
use ed25519_dalek::SigningKey;
use proptest::prelude::*;
use proptest::sample::{select, subsequence, Index};
use semver::{BuildMetadata, Prerelease, Version, VersionReq};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

/// Cases per property: `CITADEL_PROPTEST_CASES`, or a number small enough
/// for `cargo test --workspace` in a debug build.
fn cases() -> u32 {
    std::env::var("CITADEL_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(2_000)
}

fn config() -> ProptestConfig {
    ProptestConfig {
        // A failure found is kept as a named regression test in this file.
        failure_persistence: None,
        ..ProptestConfig::with_cases(cases())
    }
}

/// Any string: mostly ASCII-heavy, sometimes any Unicode.
fn any_text(max: usize) -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..max)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        proptest::string::string_regex(&format!("[\\s\\S]{{0,{max}}}")).unwrap(),
    ]
}

/// `s` cut at the char boundary at or before `at`.
fn cut(s: &str, at: usize) -> &str {
    let mut at = at.min(s.len());
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    &s[..at]
}

// ---------------------------------------------------------------------------
// Manifests
// ---------------------------------------------------------------------------

const FILE: &str = "manifest.toml";

const CATEGORIES: &[&str] = &[
    "public-services",
    "field-reports",
    "maps",
    "tourism",
    "payments",
    "health",
    "education",
    "transport",
    "utilities",
    "developer",
];

fn slug() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9-]{0,38}[a-z0-9]"
}

/// Non-blank text of 1 to `max` characters (any Unicode, controls included).
fn text(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("[^\\s][\\s\\S]{{0,{}}}", max - 1)).unwrap()
}

fn localized(max: usize) -> impl Strategy<Value = Localized> {
    (text(max), text(max)).prop_map(|(vi, en)| Localized { vi, en })
}

fn version() -> impl Strategy<Value = Version> {
    let number = || prop_oneof![0..1000u64, any::<u64>()];
    (
        number(),
        number(),
        number(),
        select(&["", "alpha", "alpha.1", "rc.2", "0.3.7", "x-y-z"][..]),
        select(&["", "build.5", "sha.abc123", "001"][..]),
    )
        .prop_map(|(major, minor, patch, pre, build)| Version {
            major,
            minor,
            patch,
            pre: Prerelease::new(pre).unwrap(),
            build: BuildMetadata::new(build).unwrap(),
        })
}

fn contract() -> impl Strategy<Value = VersionReq> {
    prop_oneof![
        select(
            &[
                "^1.0",
                "^1",
                ">=1.0, <2",
                "~1.2",
                "*",
                "=1.3.0",
                "1.*",
                "^0.9.1"
            ][..]
        )
        .prop_map(|s| VersionReq::parse(s).unwrap()),
        (0..100u64, 0..100u64).prop_map(|(a, b)| VersionReq::parse(&format!("^{a}.{b}")).unwrap()),
    ]
}

fn dns_label() -> impl Strategy<Value = String> {
    "[a-z]([a-z0-9-]{0,8}[a-z0-9])?"
}

/// A valid `http:` capability.
fn http_capability() -> impl Strategy<Value = String> {
    (
        select(&["http", "https"][..]),
        any::<bool>(),
        proptest::collection::vec(dns_label(), 1..4),
        proptest::option::of(1..=u16::MAX),
    )
        .prop_map(|(scheme, wildcard, mut labels, port)| {
            if wildcard && labels.len() < 2 {
                labels.push("vn".into());
            }
            let port = port.map(|p| format!(":{p}")).unwrap_or_default();
            let star = if wildcard { "*." } else { "" };
            format!("http:{scheme}://{star}{}{port}", labels.join("."))
        })
}

/// Capabilities (no repeats) with a purpose for each personal one.
fn capabilities_and_purposes() -> impl Strategy<Value = (Vec<String>, BTreeMap<String, Localized>)>
{
    let names: Vec<String> = capabilities::all().map(|c| c.name.to_string()).collect();
    let count = names.len();
    (
        subsequence(names, 0..=count),
        proptest::collection::vec(http_capability(), 0..3),
    )
        .prop_map(|(mut named, origins)| {
            for origin in origins {
                if !named.contains(&origin) {
                    named.push(origin);
                }
            }
            named
        })
        .prop_shuffle()
        .prop_flat_map(|named| {
            let personal = named
                .iter()
                .filter(|c| capabilities::needs_consent(c))
                .count();
            (
                Just(named),
                proptest::collection::vec(localized(80), personal),
            )
        })
        .prop_map(|(named, texts)| {
            let personal = named.iter().filter(|c| capabilities::needs_consent(c));
            let purposes = personal.cloned().zip(texts).collect();
            (named, purposes)
        })
}

fn limits() -> impl Strategy<Value = LimitsSpec> {
    (
        proptest::option::of(1..=MAX_MEMORY_MIB),
        proptest::option::of(1..=30_000u64),
        proptest::option::of(1..=1024u64),
        proptest::option::of(1..=1024u64),
        proptest::option::of(1..=1000u32),
        proptest::option::of(1..=4096u64),
    )
        .prop_map(
            |(memory, timeout, request, response, concurrency, kv)| LimitsSpec {
                memory_mib: memory,
                timeout_ms: timeout,
                max_request_body_kib: request,
                max_response_body_kib: response,
                max_concurrency: concurrency,
                kv_quota_mib: kv,
            },
        )
}

/// A component path the manifest accepts, including the unusual ones
/// (`./`, `//`, long names that need a GNU long-name record in the tar).
fn component_path() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => "[a-z0-9_-]{1,12}(/[a-z0-9_-]{1,12}){0,2}\\.wasm",
        1 => "[a-z]{90,160}\\.wasm",
        1 => "(\\./)?[a-zđươ_-]{1,8}(/\\.?/[a-z]{1,8}){0,2}\\.wasm",
        1 => "(\\./)?[a-z]{60,80}(/\\.?/[a-z]{30,60}){1,2}\\.wasm",
    ]
}

fn payment_hook() -> impl Strategy<Value = Option<String>> {
    proptest::option::of("/([^/?# ][^?# ]{0,40})?")
}

fn valid_manifest() -> impl Strategy<Value = Manifest> {
    (
        (slug(), slug(), version(), contract(), component_path()),
        (capabilities_and_purposes(), limits()),
        (
            localized(60),
            localized(300),
            select(CATEGORIES),
            "[\\s\\S]{0,40}",
            payment_hook(),
        ),
    )
        .prop_map(
            |(
                (id, publisher, version, contract, component),
                ((capabilities, purposes), limits),
                (name, description, category, icon, payment_hook),
            )| Manifest {
                id,
                name,
                publisher,
                version,
                contract,
                component,
                capabilities,
                purposes,
                limits,
                description,
                category: category.to_string(),
                icon,
                payment_hook,
            },
        )
}

fn manifest_text(manifest: &Manifest) -> String {
    toml::to_string(manifest).expect("a manifest serialises")
}

/// What every accepted manifest must be.
fn check_accepted(m: &Manifest) -> Result<(), TestCaseError> {
    prop_assert!(is_slug(&m.id) && is_slug(&m.publisher));
    prop_assert!(CATEGORIES.contains(&m.category.as_str()));
    prop_assert!(
        m.component.ends_with(".wasm")
            && !m.component.contains("..")
            && !m.component.starts_with('/'),
        "component {:?}",
        m.component
    );
    for text in [&m.name.vi, &m.name.en] {
        prop_assert!(!text.trim().is_empty() && text.chars().count() <= 60);
    }
    let mut seen = BTreeSet::new();
    for capability in &m.capabilities {
        prop_assert!(capabilities::check_name(capability).is_ok());
        prop_assert!(seen.insert(capability), "{capability} twice");
    }
    prop_assert!(m.limits.validate().is_ok());
    if let Some(hook) = &m.payment_hook {
        prop_assert!(hook.starts_with('/') && !hook.starts_with("//"));
    }
    Ok(())
}

/// Parse `text`: never a panic; a refusal is a `ManifestError` naming the file.
fn parse_manifest(text: &str) -> Result<Option<Manifest>, TestCaseError> {
    match Manifest::parse(FILE, text) {
        Ok(m) => {
            check_accepted(&m)?;
            Ok(Some(m))
        }
        Err(e @ (ManifestError::Syntax { .. } | ManifestError::Invalid { .. })) => {
            let message = e.to_string();
            prop_assert!(message.starts_with("manifest.toml: "), "{message}");
            Ok(None)
        }
    }
}

/// TOML values that stress the manifest: huge and odd numbers, control
/// characters, escapes, paths that leave the package, wrong types.
const NASTY_VALUES: &[&str] = &[
    "99999999999999999999999999",
    "18446744073709551615",
    "9223372036854775807",
    "-9223372036854775808",
    "-1",
    "0",
    "1e400",
    "-0.0",
    "nan",
    "inf",
    "0xffffffffffffffff",
    "0o777777777777777777777777",
    "\"\"",
    "\" \"",
    "\"\\u0000\"",
    "\"\\u001b[31mred\"",
    "\"a\\nb\\r\\tc\"",
    "\"\\ud800\"",
    "\"\\U0010FFFF\"",
    "\"../../etc/passwd.wasm\"",
    "\"/abs.wasm\"",
    "\"a/../../x.wasm\"",
    "\"C:\\\\x.wasm\"",
    "\"ĐÀ NẴNG – Huế\"",
    "\"\u{202e}gnp.wasm\"",
    "\"//evil.example\"",
    "\"http:https://0x7f000001\"",
    "[]",
    "[1, \"a\"]",
    "[\"kv\", \"kv\"]",
    "[\"identity.name\"]",
    "{}",
    "{ vi = \"x\" }",
    "{ vi = \"x\", en = \"y\", fr = \"z\" }",
    "true",
    "1979-05-27T07:32:00Z",
    "'''multi\nline'''",
    "\"x\" \"y\"",
    "\"unterminated",
    "\"1.2.3-\"",
    "\">=1.0, <\"",
    "\"^99999999999999999999999.0\"",
];

#[derive(Debug, Clone)]
enum TextMutation {
    Truncate(Index),
    Insert(Index, String),
    ReplaceValue(Index, String),
    DuplicateLine(Index),
    DeleteLine(Index),
    Append(String),
    HugeString(Index, usize),
    /// Deep nesting: arrays, inline tables, dotted keys, table headers.
    Nest(usize, u8),
}

fn text_mutation() -> impl Strategy<Value = TextMutation> {
    let value = prop_oneof![
        3 => select(NASTY_VALUES).prop_map(str::to_string),
        1 => any_text(40).prop_map(|s| format!("{s:?}")),
        1 => any_text(20),
    ];
    prop_oneof![
        any::<Index>().prop_map(TextMutation::Truncate),
        (
            any::<Index>(),
            prop_oneof![
                select(
                    &[
                        "\0", "\t", "\r", "\n", "\u{7f}", "\u{85}", "\u{202e}", "\u{feff}", "\"",
                        "'", "[", "]", "=", "\\", "#", "đ", "😀"
                    ][..]
                )
                .prop_map(str::to_string),
                any_text(8),
            ]
        )
            .prop_map(|(at, s)| TextMutation::Insert(at, s)),
        (any::<Index>(), value).prop_map(|(at, v)| TextMutation::ReplaceValue(at, v)),
        any::<Index>().prop_map(TextMutation::DuplicateLine),
        any::<Index>().prop_map(TextMutation::DeleteLine),
        select(
            &[
                "colour = \"red\"",
                "[limits]\nmemory_mib = 1",
                "[limits]\nmemory_mib = 99999999999999999999",
                "[purposes.\"identity.name\"]\nvi = \"x\"\nen = \"y\"",
                "[purposes.\"kv\"]\nvi = \"x\"\nen = \"y\"",
                "[[name]]\nvi = \"x\"",
                "id = \"again\"",
                "payment_hook = \"//evil.example\"",
                "payment_hook = \"/ok?x=1\"",
                "capabilities = [\"kv\", \"KV\", \"http:https://*.com\"]",
            ][..]
        )
        .prop_map(|s| TextMutation::Append(s.to_string())),
        (any::<Index>(), 1..200_000usize).prop_map(|(at, n)| TextMutation::HugeString(at, n)),
        (1..5_000usize, 0..4u8).prop_map(|(depth, kind)| TextMutation::Nest(depth, kind)),
    ]
}

fn mutate_text(text: &str, mutation: &TextMutation) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let line = |at: &Index| at.index(lines.len().max(1));
    match mutation {
        TextMutation::Truncate(at) => cut(text, at.index(text.len() + 1)).to_string(),
        TextMutation::Insert(at, s) => {
            let head = cut(text, at.index(text.len() + 1));
            format!("{head}{s}{}", &text[head.len()..])
        }
        TextMutation::ReplaceValue(at, value) => {
            let mut lines: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
            if let Some(l) = lines.get_mut(line(at)) {
                if let Some((key, _)) = l.split_once('=') {
                    *l = format!("{key}= {value}");
                }
            }
            lines.join("\n")
        }
        TextMutation::DuplicateLine(at) => {
            let mut lines = lines.clone();
            if let Some(l) = lines.get(line(at)).copied() {
                lines.insert(line(at), l);
            }
            lines.join("\n")
        }
        TextMutation::DeleteLine(at) => {
            let mut lines = lines.clone();
            if line(at) < lines.len() {
                lines.remove(line(at));
            }
            lines.join("\n")
        }
        TextMutation::Append(s) => format!("{text}\n{s}\n"),
        TextMutation::HugeString(at, n) => {
            let mut lines: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
            if let Some(l) = lines.get_mut(line(at)) {
                if let Some((key, _)) = l.split_once('=') {
                    *l = format!("{key}= \"{}\"", "ả".repeat(*n));
                }
            }
            lines.join("\n")
        }
        TextMutation::Nest(depth, kind) => {
            let n = *depth;
            let deep = match kind {
                0 => format!("icon = {}{}", "[".repeat(n), "]".repeat(n)),
                1 => format!("icon = {}1{}", "{a=".repeat(n), "}".repeat(n)),
                2 => format!("{}a = 1", "a.".repeat(n)),
                _ => format!("[{}a]", "a.".repeat(n)),
            };
            format!("{deep}\n{text}")
        }
    }
}

proptest! {
    #![proptest_config(config())]

    /// Any text: a manifest or a `ManifestError`, never a panic.
    #[test]
    fn manifest_arbitrary_text_is_refused_with_a_typed_error(
        text in prop_oneof![
            any_text(400),
            "[\\[\\]{}=\"'.,a-z0-9_ \\n#:-]{0,300}",
        ]
    ) {
        parse_manifest(&text)?;
    }

    /// A generated valid manifest, serialised, parses back to itself.
    #[test]
    fn manifest_valid_round_trips(manifest in valid_manifest()) {
        let text = manifest_text(&manifest);
        let parsed = Manifest::parse(FILE, &text);
        prop_assert!(parsed.is_ok(), "{text}\n{:?}", parsed.err());
        prop_assert_eq!(parsed.unwrap(), manifest);
    }

    /// A valid manifest with one to three mutations: parses (and is then
    /// still valid) or is refused with a typed error.
    #[test]
    fn manifest_mutated_never_panics(
        manifest in valid_manifest(),
        mutations in proptest::collection::vec(text_mutation(), 1..4),
    ) {
        let mut text = manifest_text(&manifest);
        for mutation in &mutations {
            text = mutate_text(&text, mutation);
        }
        parse_manifest(&text)?;
    }

    /// The sample manifests shipped with the host, mutated.
    #[test]
    fn manifest_mutated_samples_never_panic(
        sample in any::<Index>(),
        mutations in proptest::collection::vec(text_mutation(), 1..4),
    ) {
        let (_, text, _) = citadel_host::samples::SAMPLES[sample.index(citadel_host::samples::SAMPLES.len())];
        let mut text = text.to_string();
        for mutation in &mutations {
            text = mutate_text(&text, mutation);
        }
        parse_manifest(&text)?;
    }
}

// ---------------------------------------------------------------------------
// Packages (tar) and their signature
// ---------------------------------------------------------------------------

fn key(seed: [u8; 32]) -> SigningKey {
    SigningKey::from_bytes(&seed)
}

/// A small valid package's three files, for mutations.
fn valid_parts() -> &'static (String, String, Vec<u8>, Vec<u8>) {
    static PARTS: OnceLock<(String, String, Vec<u8>, Vec<u8>)> = OnceLock::new();
    PARTS.get_or_init(|| {
        let (_, manifest, _) = citadel_host::samples::SAMPLES[0];
        let component_path = Manifest::parse(FILE, manifest).unwrap().component;
        let component = b"\0asm\x0d\0\x01\0".to_vec();
        let bytes = package::build(manifest, &component_path, &component, &key([7; 32])).unwrap();
        let package = package::parse(&bytes).unwrap();
        let signature = serde_json::to_vec(&package.signature).unwrap();
        (manifest.to_string(), component_path, component, signature)
    })
}

/// How a raw tar entry spells a name.
#[derive(Debug, Clone, Copy)]
enum Naming {
    /// In the header (cut at 100 bytes).
    Plain,
    /// A GNU `L` record before the header.
    GnuLong,
    /// A pax `x` record with `path=` before the header.
    Pax,
}

/// How a raw tar entry's header declares its size.
#[derive(Debug, Clone)]
enum SizeField {
    Exact,
    Octal(u64),
    Base256(u64),
    Raw([u8; 12]),
}

/// One tar entry written byte by byte, so that nothing in the `tar` crate's
/// builder can tidy away a hostile name, type or size.
#[derive(Debug, Clone)]
struct RawEntry {
    name: Vec<u8>,
    kind: u8,
    data: Vec<u8>,
    naming: Naming,
    size: SizeField,
}

impl RawEntry {
    fn regular(name: &str, data: &[u8]) -> RawEntry {
        RawEntry {
            name: name.as_bytes().to_vec(),
            kind: b'0',
            data: data.to_vec(),
            naming: Naming::Plain,
            size: SizeField::Exact,
        }
    }
}

fn header(name: &[u8], kind: u8, size: &SizeField, data_len: usize) -> [u8; 512] {
    let mut header = tar::Header::new_gnu();
    {
        let old = header.as_old_mut();
        let n = name.len().min(old.name.len());
        old.name[..n].copy_from_slice(&name[..n]);
    }
    header.set_mode(0o644);
    header.set_entry_type(tar::EntryType::new(kind));
    header.set_size(data_len as u64);
    match size {
        SizeField::Exact => {}
        SizeField::Octal(n) => {
            let text = format!("{n:011o}");
            let field = &mut header.as_old_mut().size;
            *field = [0; 12];
            let n = text.len().min(12);
            field[..n].copy_from_slice(&text.as_bytes()[..n]);
        }
        SizeField::Base256(n) => {
            let field = &mut header.as_old_mut().size;
            field[0] = 0x80;
            field[1..4].fill(0);
            field[4..].copy_from_slice(&n.to_be_bytes());
        }
        SizeField::Raw(raw) => header.as_old_mut().size = *raw,
    }
    header.set_cksum();
    *header.as_bytes()
}

fn push_block(out: &mut Vec<u8>, header: [u8; 512], data: &[u8]) {
    out.extend_from_slice(&header);
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
}

fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let rest = key.len() + value.len() + 3; // space, `=`, newline
    let mut len = rest + 1;
    while len != rest + len.to_string().len() {
        len = rest + len.to_string().len();
    }
    let mut record = format!("{len} {key}=").into_bytes();
    record.extend_from_slice(value);
    record.push(b'\n');
    record
}

fn write_tar(entries: &[RawEntry], trailer: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in entries {
        match entry.naming {
            Naming::Plain => {}
            Naming::GnuLong => {
                let mut name = entry.name.clone();
                name.push(0);
                let h = header(b"././@LongLink", b'L', &SizeField::Exact, name.len());
                push_block(&mut out, h, &name);
            }
            Naming::Pax => {
                let record = pax_record("path", &entry.name);
                let h = header(b"pax", b'x', &SizeField::Exact, record.len());
                push_block(&mut out, h, &record);
            }
        }
        let h = header(&entry.name, entry.kind, &entry.size, entry.data.len());
        push_block(&mut out, h, &entry.data);
    }
    if trailer {
        out.extend_from_slice(&[0; 1024]);
    }
    out
}

/// Names a hostile tar might carry.
const NASTY_NAMES: &[&str] = &[
    "manifest.toml",
    "signature.json",
    "./manifest.toml",
    "/manifest.toml",
    "../manifest.toml",
    "../../../../etc/passwd",
    "/etc/passwd",
    "a/../../x.wasm",
    "x.wasm/",
    "x.wasm\0hidden",
    "x.wasm\n",
    "x\\..\\..\\y.wasm",
    "C:\\x.wasm",
    "\u{202e}lmot.tsefinam",
    "manifest.toml ",
    "MANIFEST.TOML",
    "đường/ứng-dụng.wasm",
    "",
    ".",
    "..",
    "//",
];

const KINDS: &[u8] = b"0\x00123456789xgLKSDVMA\xff";

#[derive(Debug, Clone)]
enum TarMutation {
    Rename(Index, String),
    RenameBytes(Index, Vec<u8>),
    Kind(Index, u8),
    Naming(Index, Naming),
    Size(Index, SizeField),
    Duplicate(Index),
    Remove(Index),
    Extra(String, Vec<u8>),
    Data(Index, Vec<u8>),
    Swap(Index, Index),
}

fn tar_mutation() -> impl Strategy<Value = TarMutation> {
    let naming = select(&[Naming::Plain, Naming::GnuLong, Naming::Pax][..]);
    let size = prop_oneof![
        Just(SizeField::Exact),
        prop_oneof![
            0..4096u64,
            Just(u64::MAX),
            Just(8 << 30),
            Just(0o77777777777)
        ]
        .prop_map(SizeField::Octal),
        prop_oneof![
            0..4096u64,
            Just(u64::MAX),
            Just(i64::MAX as u64),
            Just(1 << 40)
        ]
        .prop_map(SizeField::Base256),
        any::<[u8; 12]>().prop_map(SizeField::Raw),
    ];
    let name = prop_oneof![
        select(NASTY_NAMES).prop_map(str::to_string),
        "[a-z./\\\\]{1,30}",
        "[a-z]{95,300}(\\.wasm)?",
    ];
    prop_oneof![
        (any::<Index>(), name.clone()).prop_map(|(i, n)| TarMutation::Rename(i, n)),
        (
            any::<Index>(),
            proptest::collection::vec(any::<u8>(), 0..120)
        )
            .prop_map(|(i, n)| TarMutation::RenameBytes(i, n)),
        (any::<Index>(), select(KINDS)).prop_map(|(i, k)| TarMutation::Kind(i, k)),
        (any::<Index>(), naming).prop_map(|(i, n)| TarMutation::Naming(i, n)),
        (any::<Index>(), size).prop_map(|(i, s)| TarMutation::Size(i, s)),
        any::<Index>().prop_map(TarMutation::Duplicate),
        any::<Index>().prop_map(TarMutation::Remove),
        (name, proptest::collection::vec(any::<u8>(), 0..64))
            .prop_map(|(n, d)| TarMutation::Extra(n, d)),
        (
            any::<Index>(),
            proptest::collection::vec(any::<u8>(), 0..700)
        )
            .prop_map(|(i, d)| TarMutation::Data(i, d)),
        (any::<Index>(), any::<Index>()).prop_map(|(a, b)| TarMutation::Swap(a, b)),
    ]
}

fn mutate_tar(entries: &mut Vec<RawEntry>, mutation: &TarMutation) {
    let len = entries.len();
    let pick = |i: &Index| (len > 0).then(|| i.index(len));
    match mutation {
        TarMutation::Rename(i, name) => {
            if let Some(i) = pick(i) {
                entries[i].name = name.as_bytes().to_vec();
            }
        }
        TarMutation::RenameBytes(i, name) => {
            if let Some(i) = pick(i) {
                entries[i].name = name.clone();
            }
        }
        TarMutation::Kind(i, kind) => {
            if let Some(i) = pick(i) {
                entries[i].kind = *kind;
            }
        }
        TarMutation::Naming(i, naming) => {
            if let Some(i) = pick(i) {
                entries[i].naming = *naming;
            }
        }
        TarMutation::Size(i, size) => {
            if let Some(i) = pick(i) {
                entries[i].size = size.clone();
            }
        }
        TarMutation::Duplicate(i) => {
            if let Some(i) = pick(i) {
                entries.insert(i, entries[i].clone());
            }
        }
        TarMutation::Remove(i) => {
            if let Some(i) = pick(i) {
                entries.remove(i);
            }
        }
        TarMutation::Extra(name, data) => entries.push(RawEntry::regular(name, data)),
        TarMutation::Data(i, data) => {
            if let Some(i) = pick(i) {
                entries[i].data = data.clone();
            }
        }
        TarMutation::Swap(a, b) => {
            if let (Some(a), Some(b)) = (pick(a), pick(b)) {
                entries.swap(a, b);
            }
        }
    }
}

/// Parse package bytes: a package or a typed `PackageError`, never a panic.
/// What parses re-builds and parses to the same parts.
fn parse_package(bytes: &[u8]) -> Result<Option<Package>, TestCaseError> {
    match package::parse(bytes) {
        Ok(package) => {
            if let Ok(manifest) = Manifest::parse(FILE, &package.manifest_text) {
                check_accepted(&manifest)?;
            }
            let _ = package.verify();
            Ok(Some(package))
        }
        Err(e @ (PackageError::TooLarge { .. } | PackageError::Layout(_))) => {
            prop_assert!(!e.to_string().is_empty());
            Ok(None)
        }
        Err(e @ PackageError::Signature(_)) => Err(TestCaseError::fail(format!(
            "parse never checks signatures: {e}"
        ))),
    }
}

/// A 512-byte block with random fields and a right checksum, so the tar
/// reader gets past the checksum into the field parsing.
fn tar_like_bytes() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        (
            proptest::collection::vec(any::<u8>(), 512),
            any::<bool>(),
            proptest::collection::vec(any::<u8>(), 0..600),
        ),
        1..4,
    )
    .prop_map(|blocks| {
        let mut out = Vec::new();
        for (mut block, ustar, data) in blocks {
            if ustar {
                block[257..263].copy_from_slice(b"ustar\0");
                block[263..265].copy_from_slice(b"00");
            }
            block[148..156].fill(b' ');
            let sum: u32 = block.iter().map(|b| u32::from(*b)).sum();
            block[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
            out.extend_from_slice(&block);
            out.extend_from_slice(&data);
        }
        out
    })
}

#[derive(Debug, Clone)]
enum Tamper {
    Manifest(Index, char),
    Component(Index, u8),
    Signature(Index, u8),
    PublicKey(Index, u8),
    Algorithm(String),
}

fn tamper() -> impl Strategy<Value = Tamper> {
    prop_oneof![
        (any::<Index>(), any::<char>()).prop_map(|(i, c)| Tamper::Manifest(i, c)),
        (any::<Index>(), 1..=255u8).prop_map(|(i, x)| Tamper::Component(i, x)),
        (any::<Index>(), 1..=255u8).prop_map(|(i, x)| Tamper::Signature(i, x)),
        (any::<Index>(), 1..=255u8).prop_map(|(i, x)| Tamper::PublicKey(i, x)),
        prop_oneof![
            select(&["ED25519", "ed25519 ", "", "ed448", "rsa", "ed25519\0"][..])
                .prop_map(str::to_string),
            any_text(12).prop_filter("not the algorithm", |s| s != "ed25519"),
        ]
        .prop_map(Tamper::Algorithm),
    ]
}

fn xor_hex(hex_text: &str, at: &Index, x: u8) -> String {
    let mut bytes = hex::decode(hex_text).unwrap();
    let i = at.index(bytes.len());
    bytes[i] ^= x;
    hex::encode(bytes)
}

/// A signature field: arbitrary text, hex of the wrong length, or hex of
/// the right length with random bytes.
fn hex_field(len: usize) -> impl Strategy<Value = String> {
    prop_oneof![
        any_text(200),
        proptest::collection::vec(any::<u8>(), 0..100).prop_map(hex::encode),
        proptest::collection::vec(any::<u8>(), len).prop_map(hex::encode),
        proptest::collection::vec(any::<u8>(), len).prop_map(hex::encode_upper),
        "[0-9a-fA-F]{0,200}",
    ]
}

/// `signature.json` texts: arbitrary, and near-valid JSON (duplicate keys,
/// extra fields, wrong types, escapes, deep nesting).
fn signature_json() -> impl Strategy<Value = Vec<u8>> {
    let (_, _, _, valid) = valid_parts();
    let valid = String::from_utf8(valid.clone()).unwrap();
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..300),
        any_text(300).prop_map(String::into_bytes),
        (
            any::<Index>(),
            select(
                &[
                    ",\"algorithm\":\"ed25519\"",
                    ",\"extra\":1",
                    ",\"signature\":null",
                    ",\"public_key\":12345678901234567890123456789",
                    ",\"algorithm\":\"\\ud800\"",
                    ",\"algorithm\":\"ed25519\\u0000\"",
                    "\"",
                    "}",
                    ",",
                    "\u{0}",
                ][..]
            )
        )
            .prop_map(move |(at, insert)| {
                // Inserted just before the closing brace, or anywhere.
                let mut text = valid.clone();
                let at = if at.index(2) == 0 {
                    text.len() - 1
                } else {
                    at.index(text.len() + 1)
                };
                let at = cut(&text, at).len();
                text.insert_str(at, insert);
                text.into_bytes()
            }),
        (1..20_000usize).prop_map(|depth| {
            format!("{}{}", "[".repeat(depth), "]".repeat(depth)).into_bytes()
        }),
    ]
}

proptest! {
    #![proptest_config(config())]

    /// Any bytes: a package or a typed error.
    #[test]
    fn package_arbitrary_bytes_are_refused_with_a_typed_error(
        bytes in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..3000),
            tar_like_bytes(),
        ]
    ) {
        parse_package(&bytes)?;
    }

    /// A package built from a valid manifest parses back to the same
    /// manifest, component and signer.
    #[test]
    fn package_built_round_trips(
        manifest in valid_manifest(),
        component in proptest::collection::vec(any::<u8>(), 0..2000),
        seed in any::<[u8; 32]>(),
    ) {
        let text = manifest_text(&manifest);
        let key = key(seed);
        let bytes = package::build(&text, &manifest.component, &component, &key).unwrap();
        let parsed = package::parse(&bytes);
        prop_assert!(parsed.is_ok(), "{:?} for component {:?}", parsed.err(), manifest.component);
        let parsed = parsed.unwrap();
        prop_assert_eq!(&parsed.manifest_text, &text);
        prop_assert_eq!(&parsed.component, &component);
        prop_assert_eq!(Manifest::parse(FILE, &parsed.manifest_text).unwrap(), manifest);
        let public = hex::encode(key.verifying_key().to_bytes());
        prop_assert_eq!(parsed.verify(), Ok(public.as_str()));
    }

    /// A valid package whose tar entries were renamed (`..`, absolute,
    /// control characters), retyped (links, directories, devices), resized
    /// (huge, base-256, garbage), duplicated, dropped or reordered: parses
    /// or is refused with a typed error; a link, directory or device entry
    /// is never accepted.
    #[test]
    fn package_mutated_tar_never_panics(
        mutations in proptest::collection::vec(tar_mutation(), 1..4),
        trailer in any::<bool>(),
    ) {
        let (manifest, component_path, component, signature) = valid_parts();
        let mut entries = vec![
            RawEntry::regular("manifest.toml", manifest.as_bytes()),
            RawEntry::regular(component_path, component),
            RawEntry::regular("signature.json", signature),
        ];
        for mutation in &mutations {
            mutate_tar(&mut entries, mutation);
        }
        let bytes = write_tar(&entries, trailer);
        let parsed = parse_package(&bytes)?;
        let sizes_intact = entries.iter().all(|e| matches!(e.size, SizeField::Exact));
        if parsed.is_some() && sizes_intact {
            prop_assert!(
                entries.iter().all(|e| !b"123456".contains(&e.kind)),
                "a link, directory or device entry was accepted: {entries:?}"
            );
        }
    }

    /// A valid package cut short or with bytes overwritten.
    #[test]
    fn package_damaged_bytes_never_panic(
        cut_at in any::<Index>(),
        writes in proptest::collection::vec((any::<Index>(), any::<u8>()), 0..8),
        truncate in any::<bool>(),
    ) {
        let (manifest, component_path, component, _) = valid_parts();
        let mut bytes = package::build(manifest, component_path, component, &key([7; 32])).unwrap();
        for (at, byte) in &writes {
            let i = at.index(bytes.len());
            bytes[i] = *byte;
        }
        if truncate {
            bytes.truncate(cut_at.index(bytes.len() + 1));
        }
        parse_package(&bytes)?;
    }

    /// `signature.json` arbitrary or near-valid inside a right layout.
    #[test]
    fn signature_file_arbitrary_is_refused_with_a_typed_error(json in signature_json()) {
        let (manifest, component_path, component, _) = valid_parts();
        let entries = vec![
            RawEntry::regular("manifest.toml", manifest.as_bytes()),
            RawEntry::regular(component_path, component),
            RawEntry::regular("signature.json", &json),
        ];
        if let Some(package) = parse_package(&write_tar(&entries, true))? {
            prop_assert!(matches!(package.verify(), Err(PackageError::Signature(_))));
        }
    }

    /// Arbitrary signature fields never verify, and are refused with a
    /// typed error; the key helpers refuse garbage without a panic.
    #[test]
    fn signature_arbitrary_fields_never_verify(
        algorithm in prop_oneof![Just("ed25519".to_string()), any_text(12)],
        public_key in hex_field(32),
        signature in hex_field(64),
        manifest_text in any_text(100),
        component in proptest::collection::vec(any::<u8>(), 0..100),
    ) {
        let _ = package::check_public_key(&public_key);
        let _ = package::signing_key(&signature);
        let package = Package {
            manifest_text,
            component,
            signature: SignatureFile { algorithm, public_key, signature },
        };
        prop_assert!(matches!(package.verify(), Err(PackageError::Signature(_))));
    }

    /// A signed package verifies to its signer; one changed byte anywhere
    /// in what is signed, or in the signature or key, and it does not.
    #[test]
    fn signature_tampering_is_refused(
        seed in any::<[u8; 32]>(),
        component in proptest::collection::vec(any::<u8>(), 1..500),
        tamper in tamper(),
    ) {
        let (manifest, component_path, _, _) = valid_parts();
        let key = key(seed);
        let bytes = package::build(manifest, component_path, &component, &key).unwrap();
        let mut package = package::parse(&bytes).unwrap();
        let public = hex::encode(key.verifying_key().to_bytes());
        prop_assert_eq!(package.verify(), Ok(public.as_str()));
        match &tamper {
            Tamper::Manifest(at, c) => {
                let at = cut(&package.manifest_text, at.index(package.manifest_text.len() + 1)).len();
                package.manifest_text.insert(at, *c);
            }
            Tamper::Component(at, x) => {
                let i = at.index(package.component.len());
                package.component[i] ^= x;
            }
            Tamper::Signature(at, x) => {
                package.signature.signature = xor_hex(&package.signature.signature, at, *x);
            }
            Tamper::PublicKey(at, x) => {
                package.signature.public_key = xor_hex(&package.signature.public_key, at, *x);
            }
            Tamper::Algorithm(algorithm) => package.signature.algorithm = algorithm.clone(),
        }
        prop_assert!(matches!(package.verify(), Err(PackageError::Signature(_))));
    }
}

// ---------------------------------------------------------------------------
// Local return paths
// ---------------------------------------------------------------------------

/// `%XX` decoded where well-formed, everything else kept (as a lenient
/// URL decoder does).
fn percent_decode(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    out
}

fn same_origin_as_base(path: &str) -> bool {
    static BASE: OnceLock<url::Url> = OnceLock::new();
    let base = BASE.get_or_init(|| url::Url::parse("https://host.example/").unwrap());
    base.join(path)
        .is_ok_and(|joined| joined.origin() == base.origin() && joined.path().starts_with('/'))
}

/// What every accepted local path is: a single leading `/`, no control
/// character or backslash in it or in any percent-decoded form of it, and
/// the same origin as the base under the WHATWG parser, decoded or not.
fn check_local_path(path: &str) -> Result<(), TestCaseError> {
    let mut layer = path.as_bytes().to_vec();
    for depth in 0..16 {
        let text = String::from_utf8_lossy(&layer);
        prop_assert!(
            layer.starts_with(b"/") && !layer.starts_with(b"//") && !layer.starts_with(b"/\\"),
            "{path:?} (decoded {depth} times: {text:?}) does not start with a single /"
        );
        prop_assert!(
            !layer.iter().any(|&b| b < 0x20 || b == 0x7f || b == b'\\')
                && !text.chars().any(char::is_control),
            "{path:?} (decoded {depth} times: {text:?}) holds a control character or a backslash"
        );
        if let Ok(text) = std::str::from_utf8(&layer) {
            prop_assert!(
                same_origin_as_base(text),
                "{path:?} (decoded {depth} times: {text:?}) leaves https://host.example/"
            );
        }
        let next = percent_decode(&layer);
        if next == layer {
            break;
        }
        layer = next;
    }
    Ok(())
}

/// Pieces of paths that try to leave the host.
const PATH_TOKENS: &[&str] = &[
    "a",
    "apps",
    "notes",
    "evil.example",
    "/",
    "//",
    "\\",
    "%",
    "%2F",
    "%2f",
    "%5C",
    "%5c",
    "%09",
    "%0A",
    "%0d",
    "%00",
    "%7F",
    "%C2%85",
    "%E2%80%A8",
    "%25",
    "%252F",
    "%255C",
    "%25252F",
    "%2",
    "%zz",
    "%FF",
    "%C0%AF",
    "\t",
    "\n",
    "\r",
    "\0",
    "\u{7f}",
    "\u{85}",
    "\u{2028}",
    " ",
    "?",
    "#",
    "@",
    ":",
    "..",
    ".",
    "đường",
    "\u{ff0f}",
    "\u{2215}",
    "\u{fe68}",
    "https:",
    "javascript:",
    "%E2%80%AE",
    "&",
    "=",
    "x=1",
    "%3F",
    "%23",
    "%40",
    "%3A",
];

fn path_like() -> impl Strategy<Value = String> {
    (
        select(&["/", "/", "/", "", "\\", "//", " /", "\t/", "%2F", "/\\"][..]),
        proptest::collection::vec(select(PATH_TOKENS), 0..10),
    )
        .prop_map(|(start, tokens)| format!("{start}{}", tokens.concat()))
}

proptest! {
    #![proptest_config(config())]

    /// Any text, or pieces of paths that try to leave the host: accepted
    /// only when it is a path on this host under every reading.
    #[test]
    fn local_path_accepts_only_same_origin_paths(
        path in prop_oneof![
            any_text(80),
            any_text(80).prop_map(|s| format!("/{s}")),
            path_like(),
        ]
    ) {
        if is_local_path(&path) {
            check_local_path(&path)?;
        }
    }

    /// Plain paths (with a query) are accepted: the check is not one that
    /// refuses everything.
    #[test]
    fn local_path_accepts_plain_paths(
        path in "(/[a-zA-Z0-9_~-]{1,10}){0,5}/?(\\?[a-z]{1,5}=[a-z0-9%]{0,5})?",
    ) {
        let path = if path.is_empty() || path.starts_with('?') { format!("/{path}") } else { path };
        // `%` only as a well-formed escape of a plain character.
        let path = path.replace('%', "%41");
        prop_assert!(is_local_path(&path), "{path:?} refused");
        check_local_path(&path)?;
    }
}

// ---------------------------------------------------------------------------
// Capability names and `http:` origins
// ---------------------------------------------------------------------------

/// Pieces of outbound-HTTP origins: odd schemes, hosts and ports.
fn origin_like() -> impl Strategy<Value = String> {
    let label = prop_oneof![
        3 => dns_label(),
        2 => select(&[
            "example", "vn", "a", "0", "1", "127", "0x7f", "0x", "0X1F", "0x7f000001", "0177",
            "1e3", "xn--bcher-kva", "xn--", "-a", "a-", "a_b", "A", "EXAMPLE", "đà", "ⓔxample",
            "\0", "a b", "%41", "", "localhost", "[::1]", "::1", "*", "**",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        ][..]).prop_map(str::to_string),
        1 => any_text(6),
    ];
    (
        select(
            &[
                "http",
                "https",
                "https",
                "HTTPS",
                "ftp",
                "",
                "ht\ttp",
                "javascript",
            ][..],
        ),
        select(&["://", "://", "://", ":/", ":///", "//", "://\\"][..]),
        select(&["", "", "*.", "*", ".*."][..]),
        proptest::collection::vec(label, 1..5),
        select(&["", ".", ".."][..]),
        prop_oneof![
            3 => Just(String::new()),
            3 => (0..=70_000u32).prop_map(|p| format!(":{p}")),
            1 => select(&[
                ":", ":0", ":65535", ":65536", ":99999999999999999999", ":-1", ":+80", ": 80",
                ":0x50", ":８０", ":080", "::80",
            ][..]).prop_map(str::to_string),
        ],
        select(
            &[
                "",
                "",
                "",
                "/",
                "/x",
                "?q",
                "#f",
                "@evil.example",
                "\\evil",
                " ",
                "\n",
            ][..],
        ),
    )
        .prop_map(|(scheme, sep, star, labels, dot, port, tail)| {
            format!("{scheme}{sep}{star}{}{dot}{port}{tail}", labels.join("."))
        })
}

/// Well-formed origins whose labels look like numbers (`127`, `0x7f`,
/// `0177`): what a WHATWG or `inet_aton` reader may take for an IPv4 address.
fn origin_numeric_like() -> impl Strategy<Value = String> {
    let label = prop_oneof![
        dns_label(),
        "[0-9]{1,10}",
        "0[xX][0-9a-fA-F]{0,8}",
        select(&["0x7f000001", "0177", "0x", "127", "1", "0"][..]).prop_map(str::to_string),
    ];
    (
        select(&["http", "https"][..]),
        select(&["", "*."][..]),
        proptest::collection::vec(label, 1..5),
        proptest::option::of(1..=u16::MAX),
    )
        .prop_map(|(scheme, star, labels, port)| {
            let port = port.map(|p| format!(":{p}")).unwrap_or_default();
            format!("{scheme}://{star}{}{port}", labels.join("."))
        })
}

/// What every accepted origin is; and it survives formatting and parsing
/// again, and the WHATWG parser reads its host as the same DNS name (never
/// an IP address).
fn check_origin(o: &Origin) -> Result<(), TestCaseError> {
    prop_assert!(o.scheme == "http" || o.scheme == "https");
    prop_assert!(o.port != 0);
    prop_assert!(!o.host.is_empty() && o.host.len() <= 253);
    for label in o.host.split('.') {
        prop_assert!(
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
            "label {label:?} of {o:?}"
        );
    }
    prop_assert!(!o.wildcard || o.host.contains('.'));
    let star = if o.wildcard { "*." } else { "" };
    let again = Origin::parse(&format!("{}://{star}{}:{}", o.scheme, o.host, o.port));
    prop_assert_eq!(again.as_ref(), Ok(o));
    for host in [o.host.clone(), format!("sub.{}", o.host)] {
        if let Ok(url) = url::Url::parse(&format!("{}://{host}:{}/", o.scheme, o.port)) {
            prop_assert!(
                matches!(url.host(), Some(url::Host::Domain(d)) if d == host),
                "{o:?}: the WHATWG parser reads {host:?} as {:?}",
                url.host()
            );
        }
    }
    prop_assert!(o.allows(&o.scheme, &o.host, o.port) != o.wildcard);
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    /// Any text, or an origin with odd parts: an `Origin` that holds its
    /// invariants, or a refusal naming the capability.
    #[test]
    fn http_origin_parse_accepts_only_dns_origins(
        spec in prop_oneof![any_text(60), origin_like(), origin_numeric_like()]
    ) {
        match Origin::parse(&spec) {
            Ok(origin) => check_origin(&origin)?,
            Err(reason) => prop_assert!(reason.starts_with(&format!("`http:{spec}`")), "{reason}"),
        }
        prop_assert_eq!(
            capabilities::http::check_name(&format!("http:{spec}")).map(|r| r.is_ok()),
            Some(Origin::parse(&spec).is_ok())
        );
    }

    /// Valid origins parse, and to what they say.
    #[test]
    fn http_origin_valid_round_trips(name in http_capability()) {
        let spec = name.strip_prefix("http:").unwrap();
        let origin = Origin::parse(spec);
        prop_assert!(origin.is_ok(), "{spec}: {:?}", origin.err());
        check_origin(&origin.unwrap())?;
    }

    /// Any capability name, a known name changed by one character, or an
    /// origin: accepted exactly when it is a known name or a valid origin.
    #[test]
    fn capability_names_accept_only_known_names(
        name in prop_oneof![
            any_text(40),
            origin_like().prop_map(|o| format!("http:{o}")),
            (
                select(capabilities::all().map(|c| c.name).collect::<Vec<_>>()),
                any::<Index>(),
                select(&["", " ", "\t", "\0", "\u{130}", "K", ".", "*", "\u{200b}", "ı"][..]),
                0..4u8,
            )
                .prop_map(|(known, at, piece, how)| {
                    let at = cut(known, at.index(known.len() + 1)).len();
                    match how {
                        0 => format!("{}{piece}{}", &known[..at], &known[at..]),
                        1 => known[..at].to_string(),
                        2 => known.to_uppercase(),
                        _ => format!("{piece}{known}{piece}"),
                    }
                }),
        ]
    ) {
        let known = capabilities::all().any(|c| c.name == name);
        let origin = name.strip_prefix("http:").is_some_and(|spec| Origin::parse(spec).is_ok());
        match capabilities::check_name(&name) {
            Ok(()) => prop_assert!(known || origin, "{name:?} accepted"),
            Err(reason) => {
                prop_assert!(!known && !origin, "{name:?} refused: {reason}");
                prop_assert!(!reason.is_empty());
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Component shapes
// ---------------------------------------------------------------------------

/// Valid components (and one core module) covering what the shape reader
/// follows: nested components, outer aliases, instance exports, imports,
/// exports, 64-bit and custom-page-size memories.
const COMPONENTS: &[&str] = &[
    r#"(component
        (core module $m (memory 2) (table 10 funcref))
        (core module $empty)
        (core instance (instantiate $m))
        (core instance (instantiate $m))
        (core instance (instantiate $empty))
        (component $inner
            (core module $n (memory 1))
            (core instance (instantiate $n)))
        (instance (instantiate $inner))
        (component $never (core module $big (memory 1000)) (core instance (instantiate $big))))"#,
    r#"(component (import "m" (core module $m)) (core instance (instantiate $m)))"#,
    r#"(component $root
        (core module $m (memory 3))
        (component $c
            (alias outer $root $m (core module $om))
            (core instance (instantiate $om)))
        (instance (instantiate $c))
        (instance (instantiate $c)))"#,
    r#"(component
        (component $a
            (core module $m (memory 1))
            (export "m" (core module $m)))
        (instance $i (instantiate $a))
        (alias export $i "m" (core module $am))
        (core instance (instantiate $am)))"#,
    r#"(component
        (core module $m (memory i64 5) (memory 1 (pagesize 1)) (table 100 funcref))
        (core instance (instantiate $m))
        (export "c" (core module $m)))"#,
    r#"(component
        (import "c" (component $c))
        (instance (instantiate $c)))"#,
    r#"(component
        (core module $m
            (memory (export "mem") 1)
            (func (export "f") (result i32) i32.const 1))
        (core instance $i (instantiate $m))
        (alias core export $i "mem" (core memory $mem))
        (type $t (func (result u32)))
        (func (export "f") (type $t) (canon lift (core func $i "f"))))"#,
    r#"(module (memory 1) (table 1 funcref))"#,
];

/// Nothing, a component's preamble, a core module's preamble.
const HEADERS: &[&[u8]] = &[b"", b"\0asm\x0d\0\x01\0", b"\0asm\x01\0\0\0"];

fn corpus() -> &'static [Vec<u8>] {
    static CORPUS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    CORPUS.get_or_init(|| {
        COMPONENTS
            .iter()
            .map(|text| wat::parse_str(text).expect("valid component text"))
            .collect()
    })
}

/// Whether wasmparser's validator accepts `bytes`.
fn validates(bytes: &[u8]) -> bool {
    wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
        .validate_all(bytes)
        .is_ok()
}

#[derive(Debug, Clone)]
enum ByteMutation {
    Flip(Index, u8),
    Set(Index, u8),
    Insert(Index, Vec<u8>),
    Delete(Index, usize),
    Truncate(Index),
    Splice(Index, Index, usize),
    /// A LEB128 number written over the bytes at a place: huge counts,
    /// sizes and indices.
    Leb(Index, Vec<u8>),
}

fn byte_mutation() -> impl Strategy<Value = ByteMutation> {
    let leb = select(vec![
        vec![0xff, 0xff, 0xff, 0xff, 0x0f],
        vec![0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
        vec![
            0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00,
        ],
        vec![0x80, 0x80, 0x04],
        vec![0x7f],
        vec![0x00],
    ]);
    prop_oneof![
        4 => (any::<Index>(), 1..=255u8).prop_map(|(i, x)| ByteMutation::Flip(i, x)),
        2 => (any::<Index>(), any::<u8>()).prop_map(|(i, b)| ByteMutation::Set(i, b)),
        2 => (any::<Index>(), proptest::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(i, b)| ByteMutation::Insert(i, b)),
        2 => (any::<Index>(), 1..16usize).prop_map(|(i, n)| ByteMutation::Delete(i, n)),
        1 => any::<Index>().prop_map(ByteMutation::Truncate),
        1 => (any::<Index>(), any::<Index>(), 1..64usize)
            .prop_map(|(a, b, n)| ByteMutation::Splice(a, b, n)),
        2 => (any::<Index>(), leb).prop_map(|(i, b)| ByteMutation::Leb(i, b)),
    ]
}

fn mutate_bytes(bytes: &mut Vec<u8>, mutation: &ByteMutation) {
    if bytes.is_empty() {
        return;
    }
    let len = bytes.len();
    match mutation {
        ByteMutation::Flip(i, x) => bytes[i.index(len)] ^= x,
        ByteMutation::Set(i, b) => bytes[i.index(len)] = *b,
        ByteMutation::Insert(i, b) => {
            let at = i.index(len + 1);
            bytes.splice(at..at, b.iter().copied());
        }
        ByteMutation::Delete(i, n) => {
            let at = i.index(len);
            bytes.drain(at..(at + n).min(len));
        }
        ByteMutation::Truncate(i) => bytes.truncate(i.index(len + 1)),
        ByteMutation::Splice(from, to, n) => {
            let from = from.index(len);
            let piece = bytes[from..(from + n).min(len)].to_vec();
            let to = to.index(len + 1);
            bytes.splice(to..to, piece);
        }
        ByteMutation::Leb(i, leb) => {
            let at = i.index(len);
            let end = (at + leb.len()).min(len);
            bytes.splice(at..end, leb.iter().copied());
        }
    }
}

/// Read a shape: never a panic; a refusal is a `ShapeError`.
fn read_shape(bytes: &[u8]) -> Result<Result<Shape, ShapeError>, TestCaseError> {
    let result = shape::of_component(bytes);
    if let Err(e) = &result {
        prop_assert!(!e.to_string().is_empty());
        prop_assert!(
            !matches!(e, ShapeError::TooLarge { .. }),
            "only `check` refuses sizes"
        );
    }
    Ok(result)
}

/// A core module: its memories (initial pages, log2 page size, 64-bit) and
/// tables (initial elements, 64-bit).
#[derive(Debug, Clone)]
struct ModuleSpec {
    memories: Vec<(u64, Option<u32>, bool)>,
    tables: Vec<(u64, bool)>,
}

/// A component: its modules, which it instantiates, and inner components
/// with how many times each is instantiated.
#[derive(Debug, Clone)]
struct ComponentSpec {
    modules: Vec<ModuleSpec>,
    instantiate: Vec<usize>,
    inner: Vec<(ComponentSpec, usize)>,
}

fn module_spec() -> impl Strategy<Value = ModuleSpec> {
    let memory = prop_oneof![
        (0..=65_536u64, Just(None), Just(false)),
        (0..=(1u64 << 40), Just(None), Just(true)),
        (0..=100_000u64, Just(Some(0)), Just(false)),
    ];
    let table = prop_oneof![
        (0..=200_000u64, Just(false)),
        (0..=(1u64 << 33), Just(true))
    ];
    (
        proptest::collection::vec(memory, 0..3),
        proptest::collection::vec(table, 0..3),
    )
        .prop_map(|(memories, tables)| ModuleSpec { memories, tables })
}

fn leaf_component() -> impl Strategy<Value = ComponentSpec> {
    (
        proptest::collection::vec(module_spec(), 0..4),
        proptest::collection::vec(any::<Index>(), 0..6),
    )
        .prop_map(|(modules, picks)| ComponentSpec {
            instantiate: if modules.is_empty() {
                Vec::new()
            } else {
                picks.iter().map(|i| i.index(modules.len())).collect()
            },
            modules,
            inner: Vec::new(),
        })
}

fn component_spec() -> impl Strategy<Value = ComponentSpec> {
    (
        leaf_component(),
        proptest::collection::vec((leaf_component(), 0..3usize), 0..3),
    )
        .prop_map(|(mut outer, inner)| {
            outer.inner = inner;
            outer
        })
}

fn component_wat(spec: &ComponentSpec) -> String {
    let mut wat = String::from("(component");
    for (i, module) in spec.modules.iter().enumerate() {
        wat.push_str(&format!(" (core module $m{i}"));
        for (pages, log2, is64) in &module.memories {
            let index = if *is64 { "i64 " } else { "" };
            let page = log2
                .map(|l| format!(" (pagesize {})", 1u64 << l))
                .unwrap_or_default();
            wat.push_str(&format!(" (memory {index}{pages}{page})"));
        }
        for (elements, is64) in &module.tables {
            let index = if *is64 { "i64 " } else { "" };
            wat.push_str(&format!(" (table {index}{elements} funcref)"));
        }
        wat.push(')');
    }
    for i in &spec.instantiate {
        wat.push_str(&format!(" (core instance (instantiate $m{i}))"));
    }
    for (j, (inner, times)) in spec.inner.iter().enumerate() {
        let body = component_wat(inner);
        wat.push_str(&format!(" (component $c{j}{}", &body["(component".len()..]));
        for _ in 0..*times {
            wat.push_str(&format!(" (instance (instantiate $c{j}))"));
        }
    }
    wat.push(')');
    wat
}

fn expected_shape(spec: &ComponentSpec) -> Shape {
    let mut total = Shape::default();
    for i in &spec.instantiate {
        let module = &spec.modules[*i];
        total.core_instances += 1;
        total.memories += module.memories.len() as u32;
        total.tables += module.tables.len() as u32;
        for (pages, log2, _) in &module.memories {
            total.initial_memory_bytes += pages << log2.unwrap_or(16);
        }
        for (elements, _) in &module.tables {
            total.initial_table_elements += elements;
        }
    }
    for (inner, times) in &spec.inner {
        let inner = expected_shape(inner);
        for _ in 0..*times {
            total.core_instances += inner.core_instances;
            total.memories += inner.memories;
            total.tables += inner.tables;
            total.initial_memory_bytes += inner.initial_memory_bytes;
            total.initial_table_elements += inner.initial_table_elements;
        }
    }
    total
}

proptest! {
    #![proptest_config(config())]

    /// Any bytes, bare or behind a component or module header: a shape or
    /// a typed error.
    #[test]
    fn shape_arbitrary_bytes_are_refused_with_a_typed_error(
        header in select(HEADERS),
        bytes in proptest::collection::vec(any::<u8>(), 0..600),
    ) {
        let mut all = header.to_vec();
        all.extend_from_slice(&bytes);
        let _ = read_shape(&all)?;
    }

    /// Valid components made with `wat`, one to four mutations each: a
    /// shape or a typed error; and what the validator accepts is never
    /// "unreadable".
    #[test]
    fn shape_mutated_components_never_panic(
        which in any::<Index>(),
        mutations in proptest::collection::vec(byte_mutation(), 1..5),
    ) {
        let mut bytes = corpus()[which.index(corpus().len())].clone();
        for mutation in &mutations {
            mutate_bytes(&mut bytes, mutation);
        }
        let result = read_shape(&bytes)?;
        if validates(&bytes) {
            prop_assert!(
                !matches!(result, Err(ShapeError::Unreadable(_))),
                "a valid component is unreadable: {result:?}"
            );
        }
    }

    /// Generated components: the shape read is the shape built.
    #[test]
    fn shape_counts_generated_components(spec in component_spec()) {
        let wat = component_wat(&spec);
        let bytes = wat::parse_str(&wat).expect("generated component text parses");
        let shape = read_shape(&bytes)?;
        prop_assert_eq!(shape, Ok(expected_shape(&spec)), "{}", wat);
    }
}

// ---------------------------------------------------------------------------
// Fixed cases: the corpus itself, and regressions found by the properties.
// ---------------------------------------------------------------------------

#[test]
fn the_component_corpus_is_valid_and_readable() {
    for (bytes, text) in corpus().iter().zip(COMPONENTS) {
        assert!(validates(bytes), "{text}");
        let shape = shape::of_component(bytes);
        assert!(
            !matches!(shape, Err(ShapeError::Unreadable(_))),
            "{text}: {shape:?}"
        );
    }
}

/// Found by `package_built_round_trips`: a manifest naming its component
/// `./x.wasm` or `a//b.wasm` built a package that `parse` refused (the tar
/// builder drops `.` and empty segments). Fixed in `registry/package.rs`.
#[test]
fn regression_component_paths_with_dot_or_empty_segments_round_trip() {
    let (_, sample, _) = citadel_host::samples::SAMPLES[0];
    let long = format!("./{}/./{}//c.wasm", "a".repeat(80), "b".repeat(40));
    for path in ["./x.wasm", "ư//a.wasm", "a/./b.wasm", long.as_str()] {
        let mut manifest = Manifest::parse(FILE, sample).unwrap();
        manifest.component = path.to_string();
        let text = manifest_text(&manifest);
        let bytes = package::build(&text, path, b"\0asm", &key([1; 32])).unwrap();
        let package = package::parse(&bytes).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(package.component, b"\0asm");
        assert_eq!(
            Manifest::parse(FILE, &package.manifest_text).unwrap(),
            manifest
        );
    }
}

/// Found by `http_origin_parse_accepts_only_dns_origins`: `http:http://0X`
/// and `http:https://0x7f000001` passed as DNS names, but a WHATWG parser
/// and `inet_aton` read them as IPv4 addresses (0.0.0.0, 127.0.0.1). Fixed
/// in `capabilities/http.rs`: a host whose last label is a number is refused.
#[test]
fn regression_hosts_ending_in_a_number_are_ip_literals() {
    for spec in [
        "http://0X",
        "https://0x7f000001",
        "https://0x7f.0.0.1",
        "https://example.0x1f",
        "https://example.123",
        "https://*.example.0x",
    ] {
        assert!(Origin::parse(spec).is_err(), "{spec} accepted");
    }
    for spec in [
        "https://0x7f.example.vn",
        "https://123.example.vn",
        "https://x0.vn",
    ] {
        let origin = Origin::parse(spec).unwrap_or_else(|e| panic!("{e}"));
        check_origin(&origin).unwrap();
    }
}
