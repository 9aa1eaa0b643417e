//! Code packages and task descriptions the wrapper must refuse before any user code runs, and the
//! host package cache.

use crate::common;

use common::*;
use ferry_spec::task::{StepCommand, StepInputs, TaskDescription};

/// A raw tar entry whose name/link bytes are written as given (the `tar` builder would refuse them).
fn raw_entry(kind: tar::EntryType, name: &[u8], link: &[u8], body: &[u8]) -> tar::Header {
    let mut h = tar::Header::new_old();
    h.as_old_mut().name[..name.len()].copy_from_slice(name);
    h.as_old_mut().linkname[..link.len()].copy_from_slice(link);
    h.set_entry_type(kind);
    h.set_size(body.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    h
}

/// One raw entry: type, name bytes, link target bytes, body.
type RawEntry<'a> = (tar::EntryType, &'a [u8], &'a [u8], &'a [u8]);

fn tgz_raw(entries: &[RawEntry<'_>]) -> Vec<u8> {
    let mut b = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    let mut h = tar::Header::new_gnu();
    h.set_size(5);
    h.set_mode(0o644);
    h.set_cksum();
    b.append_data(&mut h, "ok.txt", &b"hello"[..]).unwrap();
    for (kind, name, link, body) in entries {
        let h = raw_entry(*kind, name, link, body);
        b.append(&h, *body).unwrap();
    }
    b.into_inner().unwrap().finish().unwrap()
}

/// A generic step that proves it ran by creating `marker`.
fn marker_step(
    stack: &Stack,
    pkg: &ferry_spec::task::PackageRef,
    marker: &std::path::Path,
) -> TaskDescription {
    let mut d = stack.describe(
        "PkgFlow",
        "start",
        "flow.py",
        pkg,
        StepInputs::Parent {
            step: "start".into(),
        },
    );
    d.command = StepCommand::Argv {
        argv: vec![
            "/usr/bin/touch".into(),
            marker.to_string_lossy().into_owned(),
        ],
    };
    d
}

fn vars() -> Vec<(&'static str, String)> {
    let mut v = task_vars("pkg1", "t1", 1);
    v.push(("FERRY_PARENT_TASK_ID", "p".into()));
    v
}

fn assert_refused(stack: &Stack, desc: &TaskDescription, marker: &std::path::Path, expect: &str) {
    let out = stack.run(&stack.publish(desc), &vars());
    expect_code(&out, 101, expect);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line on stderr: {stderr}");
    assert!(lines[0].starts_with("ferry task-wrapper: "), "{stderr}");
    assert!(lines[0].contains(expect), "{expect:?} not in {stderr}");
    assert!(!marker.exists(), "no user code ran");
    assert!(
        !stack
            .cache
            .join("packages")
            .join(&desc.code_package.sha256)
            .exists(),
        "nothing cached"
    );
}

#[test]
fn unsafe_packages_are_refused_before_user_code_runs() {
    let stack = Stack::new();
    let marker = stack.dir.path().join("ran");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "parent dir",
            tgz_raw(&[(tar::EntryType::Regular, b"../x", b"", b"evil")]),
            "\"../x\"",
        ),
        (
            "absolute",
            tgz_raw(&[(tar::EntryType::Regular, b"/etc/x", b"", b"evil")]),
            "\"/etc/x\"",
        ),
        (
            "nested parent",
            tgz_raw(&[(tar::EntryType::Regular, b"a/../../x", b"", b"evil")]),
            "a/../../x",
        ),
        (
            "escaping symlink",
            tgz_raw(&[(tar::EntryType::Symlink, b"sub/link", b"../../outside", b"")]),
            "leaves the package root",
        ),
        (
            "absolute symlink",
            tgz_raw(&[(tar::EntryType::Symlink, b"link", b"/etc", b"")]),
            "leaves the package root",
        ),
        (
            "hard link out",
            tgz_raw(&[(tar::EntryType::Link, b"hl", b"../etc/passwd", b"")]),
            "leaves the package root",
        ),
        (
            "device",
            tgz_raw(&[(tar::EntryType::Char, b"dev", b"", b"")]),
            "device file",
        ),
        (
            "fifo",
            tgz_raw(&[(tar::EntryType::Fifo, b"fifo", b"", b"")]),
            "FIFO",
        ),
    ];
    for (what, bytes, expect) in cases {
        let pkg = stack.put_package(&bytes);
        let desc = marker_step(&stack, &pkg, &marker);
        assert_refused(&stack, &desc, &marker, expect);
        eprintln!("refused: {what}");
    }
    assert!(!stack.dir.path().join("x").exists() && !stack.dir.path().join("outside").exists());
}

#[test]
fn wrong_hash_and_missing_packages_are_refused() {
    let stack = Stack::new();
    let marker = stack.dir.path().join("ran");
    let mut pkg = stack.put_package(&tgz(&[("flow.py", b"print('hi')")]));
    let real = pkg.sha256.clone();
    pkg.sha256 = real.chars().rev().collect();
    assert_refused(
        &stack,
        &marker_step(&stack, &pkg, &marker),
        &marker,
        "sha256 mismatch",
    );

    let mut missing = pkg.clone();
    missing.key = format!("code/{}.tgz", "0".repeat(64));
    missing.sha256 = "0".repeat(64);
    assert_refused(
        &stack,
        &marker_step(&stack, &missing, &marker),
        &marker,
        "does not exist",
    );

    let mut bad = pkg.clone();
    bad.sha256 = "not-a-sha".into();
    let out = stack.run(&stack.publish(&marker_step(&stack, &bad, &marker)), &vars());
    expect_code(&out, 101, "malformed sha");
    assert!(!marker.exists());

    // Not a gzip tar at all.
    let junk = stack.put_package(b"this is not a tarball");
    assert_refused(
        &stack,
        &marker_step(&stack, &junk, &marker),
        &marker,
        "code package",
    );
}

#[test]
fn tampered_or_unaddressed_descriptions_are_refused() {
    let stack = Stack::new();
    let marker = stack.dir.path().join("ran");
    let pkg = stack.put_package(&tgz(&[("flow.py", b"")]));
    let url = stack.publish(&marker_step(&stack, &pkg, &marker));
    let path = url.strip_prefix("file://").unwrap();
    let mut body = std::fs::read(path).unwrap();
    body.push(b' ');
    std::fs::write(path, body).unwrap();
    let out = stack.run(&url, &vars());
    expect_code(&out, 101, "tampered description");
    assert!(String::from_utf8_lossy(&out.stderr).contains("sha256 mismatch"));

    let other = stack.dir.path().join("desc.json");
    std::fs::write(
        &other,
        serde_json::to_vec(&marker_step(&stack, &pkg, &marker)).unwrap(),
    )
    .unwrap();
    let out = stack.run(&format!("file://{}", other.display()), &vars());
    expect_code(&out, 101, "unaddressed description");
    assert!(!marker.exists());

    // Missing environment: no job id.
    let good = stack.publish(&marker_step(&stack, &pkg, &marker));
    let out = stack
        .command(&good, &[("FERRY_RUN_ID", "r".into())])
        .env_remove("AWS_BATCH_JOB_ID")
        .output()
        .unwrap();
    expect_code(&out, 101, "no job id");
    assert!(String::from_utf8_lossy(&out.stderr).contains("AWS_BATCH_JOB_ID"));
    assert!(!marker.exists());
}

#[test]
fn safe_packages_extract_and_are_cached_by_sha256() {
    let stack = Stack::new();
    let mut b = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    let mut h = tar::Header::new_gnu();
    h.set_size(6);
    h.set_mode(0o644);
    h.set_cksum();
    b.append_data(&mut h, "data/file.txt", &b"inside"[..])
        .unwrap();
    let mut l = tar::Header::new_gnu();
    l.set_entry_type(tar::EntryType::Symlink);
    l.set_size(0);
    l.set_cksum();
    b.append_link(&mut l, "sub/link.txt", "../data/file.txt")
        .unwrap();
    let pkg = stack.put_package(&b.into_inner().unwrap().finish().unwrap());
    let copy = stack.dir.path().join("copy.txt");
    let mut desc = stack.describe(
        "PkgFlow",
        "start",
        "flow.py",
        &pkg,
        StepInputs::Parent {
            step: "start".into(),
        },
    );
    desc.command = StepCommand::Argv {
        argv: vec![
            "/bin/cp".into(),
            "sub/link.txt".into(),
            copy.to_string_lossy().into_owned(),
        ],
    };
    let url = stack.publish(&desc);
    expect_code(&stack.run(&url, &vars()), 0, "first run");
    assert_eq!(
        std::fs::read(&copy).unwrap(),
        b"inside",
        "ran in the extracted package, the internal link resolved"
    );
    assert!(
        stack
            .cache
            .join("packages")
            .join(&pkg.sha256)
            .join("data/file.txt")
            .is_file()
    );

    // The next task with the same package uses the cache: the blob is not needed any more.
    std::fs::remove_file(stack.blobs.join(&pkg.key)).unwrap();
    std::fs::remove_file(&copy).unwrap();
    expect_code(&stack.run(&url, &vars()), 0, "cached run");
    assert_eq!(std::fs::read(&copy).unwrap(), b"inside");
}

#[test]
fn a_generic_step_exit_code_is_the_wrappers() {
    let stack = Stack::new();
    let pkg = stack.put_package(&tgz(&[("flow.py", b"")]));
    let mut desc = stack.describe(
        "PkgFlow",
        "start",
        "flow.py",
        &pkg,
        StepInputs::Parent {
            step: "start".into(),
        },
    );
    desc.command = StepCommand::Argv {
        argv: vec![
            "/bin/sh".into(),
            "-c".into(),
            "echo out; echo err >&2; cat \"$FERRY_INPUT_PATHS_FILE\"; exit 7".into(),
        ],
    };
    let out = stack.run(&stack.publish(&desc), &vars());
    expect_code(&out, 7, "generic step");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "out\nsfn-pkg1/start/p"
    );
    assert_eq!(String::from_utf8_lossy(&out.stderr), "err\n");
    let log = std::fs::read_to_string(
        stack
            .datastore
            .join(".metaflow/PkgFlow/sfn-pkg1/start/t1/0.task_stdout.log"),
    )
    .unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 2, "{log}");
    assert!(
        lines[0].starts_with("[MFLOG|0|") && lines[0].ends_with("]out"),
        "{log}"
    );
    assert!(lines[1].ends_with("]sfn-pkg1/start/p"), "{log}");
}
