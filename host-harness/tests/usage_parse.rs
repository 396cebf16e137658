//! `seatsync_host::usage::parse_usage`: accepted files, and every way a file
//! is rejected (with where and why).

use std::collections::BTreeMap;

use seatsync_host::usage::{Location, RowProblem, UsageError, UsageFormat, parse_usage};

const HEADER: &str = "org_id,org_name,package,active_users\n";

fn counts(u: &seatsync_host::usage::Usage) -> BTreeMap<(String, String), u32> {
    u.orgs()
        .iter()
        .flat_map(|o| {
            o.packages
                .iter()
                .map(|(p, n)| ((o.id.clone(), p.clone()), *n))
        })
        .collect()
}

#[test]
fn demo_fixture_parses() {
    let bytes = include_bytes!("../../fixtures/demo/usage.csv");
    let usage = parse_usage(bytes, None).expect("the demo usage file is valid");
    assert_eq!(usage.row_count(), 16);
    assert_eq!(usage.orgs().len(), 13);
    let fabrikam = usage
        .orgs()
        .iter()
        .find(|o| o.id == "pe-100517")
        .expect("Fabrikam is in the demo file");
    assert_eq!(fabrikam.name, "Fabrikam, Inc.");
    assert_eq!(fabrikam.packages.get("advanced"), Some(&21));
    assert_eq!(
        usage.package_keys().into_iter().collect::<Vec<_>>(),
        ["advanced", "business", "professional"]
    );
}

#[test]
fn csv_columns_in_any_order_bom_crlf_whitespace_and_zero() {
    let text = "\u{feff}package, active_users ,org_id,org_name\r\n\
                business, 0 , o1 , Org One \r\n\
                \r\n\
                advanced,7,o1,Org One\r\n";
    let usage = parse_usage(text.as_bytes(), Some(UsageFormat::Csv)).expect("valid");
    assert_eq!(usage.orgs().len(), 1);
    assert_eq!(usage.orgs()[0].name, "Org One");
    let want: BTreeMap<_, _> = [
        (("o1".to_owned(), "advanced".to_owned()), 7),
        (("o1".to_owned(), "business".to_owned()), 0),
    ]
    .into();
    assert_eq!(counts(&usage), want);
}

#[test]
fn json_array_parses_and_matches_csv() {
    let json = r#"[
        {"org_id": "o2", "org_name": "Two", "package": "business", "active_users": 10000000},
        {"active_users": 3, "package": "business", "org_name": "One", "org_id": "o1"}
    ]"#;
    let csv = format!("{HEADER}o2,Two,business,10000000\no1,One,business,3\n");
    let from_json = parse_usage(json.as_bytes(), None).expect("valid JSON");
    let from_csv = parse_usage(csv.as_bytes(), None).expect("valid CSV");
    assert_eq!(from_json, from_csv);
    assert_eq!(from_json.orgs()[0].id, "o1", "orgs are sorted by id");
}

#[test]
fn format_from_file_name() {
    assert_eq!(
        UsageFormat::from_file_name("a/b.CSV"),
        Some(UsageFormat::Csv)
    );
    assert_eq!(
        UsageFormat::from_file_name("x.json"),
        Some(UsageFormat::Json)
    );
    assert_eq!(UsageFormat::from_file_name("x.txt"), None);
    assert_eq!(UsageFormat::from_file_name("csv"), None);
}

/// A row error at a CSV line.
fn at_line(line: u64, column: &str, problem: RowProblem) -> UsageError {
    UsageError::Row {
        at: Location::Line(line),
        column: column.into(),
        problem: Box::new(problem),
    }
}

fn at_index(index: usize, column: &str, problem: RowProblem) -> UsageError {
    UsageError::Row {
        at: Location::Index(index),
        column: column.into(),
        problem: Box::new(problem),
    }
}

fn value(s: &str) -> String {
    s.to_owned()
}

#[test]
fn csv_rejections() {
    let row = |r: &str| format!("{HEADER}o1,One,business,1\n{r}\n");
    let cases: Vec<(&str, Vec<u8>, UsageError)> = vec![
        ("empty file", b"".to_vec(), UsageError::Empty),
        ("whitespace only", b" \n\n".to_vec(), UsageError::Empty),
        (
            "header only",
            HEADER.as_bytes().to_vec(),
            UsageError::NoRows,
        ),
        (
            "non-UTF-8 on line 3",
            format!("{HEADER}o1,One,business,1\n")
                .into_bytes()
                .into_iter()
                .chain(*b"o2,Caf\xe9,business,2\n")
                .collect(),
            UsageError::NotUtf8 {
                line: 3,
                offset: 61,
            },
        ),
        (
            "unknown column",
            b"org_id,org_name,package,users\no1,One,b,1\n".to_vec(),
            UsageError::CsvHeader {
                problem: "unknown column \"users\"".into(),
            },
        ),
        (
            "missing column",
            b"org_id,org_name,package\no1,One,b\n".to_vec(),
            UsageError::CsvHeader {
                problem: "column \"active_users\" is missing".into(),
            },
        ),
        (
            "duplicate column",
            b"org_id,org_name,package,active_users,org_id\n".to_vec(),
            UsageError::CsvHeader {
                problem: "column \"org_id\" appears twice".into(),
            },
        ),
        (
            "extra column",
            b"org_id,org_name,package,active_users,notes\n".to_vec(),
            UsageError::CsvHeader {
                problem: "unknown column \"notes\"".into(),
            },
        ),
        (
            "header in another case",
            b"ORG_ID,org_name,package,active_users\n".to_vec(),
            UsageError::CsvHeader {
                problem: "unknown column \"ORG_ID\"".into(),
            },
        ),
        (
            "too few fields",
            row("o2,Two,business").into_bytes(),
            at_line(3, "", RowProblem::WrongFieldCount { found: 3 }),
        ),
        (
            "unquoted comma",
            row("o2,Two, Inc.,business,4").into_bytes(),
            at_line(3, "", RowProblem::WrongFieldCount { found: 5 }),
        ),
        (
            "empty org_id",
            row(" ,Two,business,4").into_bytes(),
            at_line(3, "org_id", RowProblem::Empty),
        ),
        (
            "empty org_name",
            row("o2,,business,4").into_bytes(),
            at_line(3, "org_name", RowProblem::Empty),
        ),
        (
            "empty package",
            row("o2,Two,,4").into_bytes(),
            at_line(3, "package", RowProblem::Empty),
        ),
        (
            "empty count",
            row("o2,Two,business,").into_bytes(),
            at_line(3, "active_users", RowProblem::Empty),
        ),
        (
            "negative",
            row("o2,Two,business,-3").into_bytes(),
            at_line(
                3,
                "active_users",
                RowProblem::Negative { value: value("-3") },
            ),
        ),
        (
            "negative zero",
            row("o2,Two,business,-0").into_bytes(),
            at_line(
                3,
                "active_users",
                RowProblem::Negative { value: value("-0") },
            ),
        ),
        (
            "negative fraction",
            row("o2,Two,business,-1.5").into_bytes(),
            at_line(
                3,
                "active_users",
                RowProblem::Negative {
                    value: value("-1.5"),
                },
            ),
        ),
        (
            "fractional",
            row("o2,Two,business,1.5").into_bytes(),
            at_line(
                3,
                "active_users",
                RowProblem::Fractional {
                    value: value("1.5"),
                },
            ),
        ),
        (
            "whole number with a decimal point",
            row("o2,Two,business,12.0").into_bytes(),
            at_line(
                3,
                "active_users",
                RowProblem::Fractional {
                    value: value("12.0"),
                },
            ),
        ),
        (
            "exponent",
            row("o2,Two,business,1e3").into_bytes(),
            at_line(
                3,
                "active_users",
                RowProblem::NotAnInteger {
                    value: value("1e3"),
                },
            ),
        ),
        (
            "plus sign",
            row("o2,Two,business,+4").into_bytes(),
            at_line(
                3,
                "active_users",
                RowProblem::NotAnInteger { value: value("+4") },
            ),
        ),
        (
            "thousands separator",
            row("o2,Two,business,\"1,000\"").into_bytes(),
            at_line(
                3,
                "active_users",
                RowProblem::NotAnInteger {
                    value: value("1,000"),
                },
            ),
        ),
        (
            "words",
            row("o2,Two,business,twelve").into_bytes(),
            at_line(
                3,
                "active_users",
                RowProblem::NotAnInteger {
                    value: value("twelve"),
                },
            ),
        ),
        (
            "NaN",
            row("o2,Two,business,NaN").into_bytes(),
            at_line(
                3,
                "active_users",
                RowProblem::NotAnInteger {
                    value: value("NaN"),
                },
            ),
        ),
        (
            "one over the maximum",
            row("o2,Two,business,10000001").into_bytes(),
            at_line(
                3,
                "active_users",
                RowProblem::TooLarge {
                    value: value("10000001"),
                },
            ),
        ),
        (
            "beyond u64",
            row("o2,Two,business,99999999999999999999999").into_bytes(),
            at_line(
                3,
                "active_users",
                RowProblem::TooLarge {
                    value: value("99999999999999999999999"),
                },
            ),
        ),
        (
            "duplicate org and package",
            row("o1,One,business,2").into_bytes(),
            at_line(
                3,
                "package",
                RowProblem::DuplicatePackage {
                    org_id: "o1".into(),
                    package: "business".into(),
                    first: Location::Line(2),
                },
            ),
        ),
        (
            "duplicate after trimming",
            row(" o1 ,One, business ,2").into_bytes(),
            at_line(
                3,
                "package",
                RowProblem::DuplicatePackage {
                    org_id: "o1".into(),
                    package: "business".into(),
                    first: Location::Line(2),
                },
            ),
        ),
        (
            "org with two names",
            row("o1,One Ltd,advanced,2").into_bytes(),
            at_line(
                3,
                "org_name",
                RowProblem::ConflictingName {
                    org_id: "o1".into(),
                    name: "One Ltd".into(),
                    first_name: "One".into(),
                    first: Location::Line(2),
                },
            ),
        ),
        (
            "line numbers count quoted newlines",
            format!("{HEADER}o1,\"One\nLine two\",business,1\no2,Two,business,x\n").into_bytes(),
            at_line(
                4,
                "active_users",
                RowProblem::NotAnInteger { value: value("x") },
            ),
        ),
    ];
    for (name, bytes, want) in cases {
        let got = parse_usage(&bytes, Some(UsageFormat::Csv));
        assert_eq!(got.as_ref().err(), Some(&want), "{name}: got {got:?}");
        // Detection must reach the same verdict for CSV content.
        if !bytes.is_empty() && bytes[0] != b'[' {
            assert_eq!(
                parse_usage(&bytes, None).err(),
                Some(want),
                "{name} (detected)"
            );
        }
    }
}

#[test]
fn csv_unterminated_quote_is_a_syntax_or_row_error() {
    // The csv reader takes an unterminated quote to the end of the file;
    // either way the file must be rejected, never half-read.
    let text = format!("{HEADER}o1,\"One,business,1\no2,Two,business,2\n");
    assert!(parse_usage(text.as_bytes(), Some(UsageFormat::Csv)).is_err());
}

#[test]
fn json_rejections() {
    let entry = r#"{"org_id":"o1","org_name":"One","package":"business","active_users":1}"#;
    let with = |second: &str| format!("[{entry},{second}]");
    let cases: Vec<(&str, String, UsageError)> = vec![
        ("empty array", "[]".into(), UsageError::NoRows),
        (
            "not an array",
            r#"{"organizations":[]}"#.into(),
            UsageError::JsonShape {
                problem: "the top level is an object".into(),
            },
        ),
        (
            "element not an object",
            with("42"),
            UsageError::JsonShape {
                problem: "entry [1] is a number, not an object".into(),
            },
        ),
        (
            "syntax error",
            format!("[{entry},\n{{\"org_id\": }}]"),
            UsageError::JsonSyntax {
                line: 2,
                column: 12,
                message: "expected value".into(),
            },
        ),
        (
            "missing field",
            with(r#"{"org_id":"o2","org_name":"Two","package":"business"}"#),
            at_index(1, "active_users", RowProblem::Missing),
        ),
        (
            "unknown field",
            with(r#"{"org_id":"o2","org_name":"Two","package":"b","active_users":1,"seats":2}"#),
            at_index(1, "seats", RowProblem::UnknownField),
        ),
        (
            "field twice",
            with(
                r#"{"org_id":"o2","org_name":"Two","package":"b","active_users":1,"active_users":2}"#,
            ),
            at_index(1, "active_users", RowProblem::DuplicateField),
        ),
        (
            "count as a string",
            with(r#"{"org_id":"o2","org_name":"Two","package":"b","active_users":"3"}"#),
            at_index(
                1,
                "active_users",
                RowProblem::WrongType {
                    expected: "a whole number",
                    found: "a string",
                },
            ),
        ),
        (
            "id as a number",
            with(r#"{"org_id":2,"org_name":"Two","package":"b","active_users":3}"#),
            at_index(
                1,
                "org_id",
                RowProblem::WrongType {
                    expected: "a string",
                    found: "a number",
                },
            ),
        ),
        (
            "null name",
            with(r#"{"org_id":"o2","org_name":null,"package":"b","active_users":3}"#),
            at_index(
                1,
                "org_name",
                RowProblem::WrongType {
                    expected: "a string",
                    found: "null",
                },
            ),
        ),
        (
            "empty package",
            with(r#"{"org_id":"o2","org_name":"Two","package":"  ","active_users":3}"#),
            at_index(1, "package", RowProblem::Empty),
        ),
        (
            "negative",
            with(r#"{"org_id":"o2","org_name":"Two","package":"b","active_users":-1}"#),
            at_index(
                1,
                "active_users",
                RowProblem::Negative { value: value("-1") },
            ),
        ),
        (
            "fractional",
            with(r#"{"org_id":"o2","org_name":"Two","package":"b","active_users":2.5}"#),
            at_index(
                1,
                "active_users",
                RowProblem::Fractional {
                    value: value("2.5"),
                },
            ),
        ),
        (
            "whole float",
            with(r#"{"org_id":"o2","org_name":"Two","package":"b","active_users":2.0}"#),
            at_index(
                1,
                "active_users",
                RowProblem::Fractional {
                    value: value("2.0"),
                },
            ),
        ),
        (
            "too large",
            with(r#"{"org_id":"o2","org_name":"Two","package":"b","active_users":10000001}"#),
            at_index(
                1,
                "active_users",
                RowProblem::TooLarge {
                    value: value("10000001"),
                },
            ),
        ),
        (
            "huge float",
            with(r#"{"org_id":"o2","org_name":"Two","package":"b","active_users":1e300}"#),
            at_index(
                1,
                "active_users",
                RowProblem::TooLarge {
                    value: value("1e+300"),
                },
            ),
        ),
        (
            "duplicate org and package",
            with(r#"{"org_id":"o1","org_name":"One","package":"business","active_users":2}"#),
            at_index(
                1,
                "package",
                RowProblem::DuplicatePackage {
                    org_id: "o1".into(),
                    package: "business".into(),
                    first: Location::Index(0),
                },
            ),
        ),
        (
            "org with two names",
            with(r#"{"org_id":"o1","org_name":"Uno","package":"advanced","active_users":2}"#),
            at_index(
                1,
                "org_name",
                RowProblem::ConflictingName {
                    org_id: "o1".into(),
                    name: "Uno".into(),
                    first_name: "One".into(),
                    first: Location::Index(0),
                },
            ),
        ),
    ];
    for (name, text, want) in cases {
        let got = parse_usage(text.as_bytes(), Some(UsageFormat::Json));
        assert_eq!(got.as_ref().err(), Some(&want), "{name}: got {got:?}");
        assert_eq!(
            parse_usage(text.as_bytes(), None).err(),
            Some(want),
            "{name} (detected)"
        );
    }
}

#[test]
fn json_hint_on_csv_content_is_rejected() {
    let text = format!("{HEADER}o1,One,business,1\n");
    assert!(matches!(
        parse_usage(text.as_bytes(), Some(UsageFormat::Json)),
        Err(UsageError::JsonSyntax { line: 1, .. })
    ));
}

/// The messages an operator reads; reviewed in the snapshot file.
#[test]
fn error_messages() {
    let samples: Vec<(&str, Vec<u8>, Option<UsageFormat>)> = vec![
        ("empty", b"".to_vec(), None),
        ("header only", HEADER.as_bytes().to_vec(), None),
        (
            "not utf-8",
            b"org_id,org_name,package,active_users\no1,\xff,b,1\n".to_vec(),
            None,
        ),
        (
            "bad header",
            b"org,org_name,package,active_users\n".to_vec(),
            None,
        ),
        (
            "fractional",
            format!("{HEADER}o1,One,b,1.5\n").into_bytes(),
            None,
        ),
        (
            "too large",
            format!("{HEADER}o1,One,b,20000000\n").into_bytes(),
            None,
        ),
        (
            "field count",
            format!("{HEADER}o1,One, Inc.,b,1\n").into_bytes(),
            None,
        ),
        (
            "duplicate",
            format!("{HEADER}o1,One,b,1\no1,One,b,2\n").into_bytes(),
            None,
        ),
        (
            "two names",
            format!("{HEADER}o1,One,b,1\no1,Uno,c,2\n").into_bytes(),
            None,
        ),
        ("json shape", br#"{"organizations":[]}"#.to_vec(), None),
        (
            "json missing",
            br#"[{"org_id":"o1","org_name":"One","package":"b"}]"#.to_vec(),
            None,
        ),
        (
            "json negative",
            br#"[{"org_id":"o1","org_name":"One","package":"b","active_users":-2}]"#.to_vec(),
            None,
        ),
    ];
    let mut out = String::new();
    for (name, bytes, hint) in samples {
        let err = parse_usage(&bytes, hint).expect_err(name);
        out.push_str(&format!("{name}: {err}\n"));
    }
    insta::assert_snapshot!(out);
}

#[test]
fn an_optional_domain_column_gives_each_organization_its_domain() {
    let csv = "domain,org_id,org_name,package,active_users\n\
               contoso.com,pe-1,Contoso,business,4\n\
               ,pe-1,Contoso,advanced,2\n\
               ,pe-2,Fabrikam,business,3\n";
    let usage = parse_usage(csv.as_bytes(), None).expect("a domain column is optional");
    let domains: Vec<(&str, Option<&str>)> = usage
        .orgs()
        .iter()
        .map(|o| (o.id.as_str(), o.domain.as_deref()))
        .collect();
    assert_eq!(domains, [("pe-1", Some("contoso.com")), ("pe-2", None)]);

    let json = r#"[{"org_id": "pe-1", "org_name": "Contoso", "package": "business", "active_users": 4, "domain": "contoso.com"},
                   {"org_id": "pe-2", "org_name": "Fabrikam", "package": "business", "active_users": 3, "domain": null}]"#;
    let usage = parse_usage(json.as_bytes(), None).expect("JSON with domains");
    assert_eq!(usage.orgs()[0].domain.as_deref(), Some("contoso.com"));
    assert_eq!(usage.orgs()[1].domain, None);

    let wrong = r#"[{"org_id": "pe-1", "org_name": "Contoso", "package": "business", "active_users": 4, "domain": 7}]"#;
    let err = parse_usage(wrong.as_bytes(), None).unwrap_err().to_string();
    assert!(
        err.contains("domain") && err.contains("a string or null"),
        "{err}"
    );
    let twice = "domain,org_id,org_name,package,active_users,domain\nx,pe-1,C,b,1,y\n";
    let err = parse_usage(twice.as_bytes(), None).unwrap_err().to_string();
    assert!(err.contains("\"domain\" appears twice"), "{err}");
}
