//! Finding uv: the Python that exports flows lends the uv it can import (the tools venv's), and
//! the version Ferry installs is the one the tests pin.

use std::path::PathBuf;

use ferry_pyenv::uv::{UV_VERSION, UvLookup, locate_uv};

#[test]
fn the_uv_ferry_installs_is_the_one_the_tests_pin() {
    let pins = std::fs::read_to_string(
        ferry_testkit::workspace_root().join("scripts/requirements-test.txt"),
    )
    .unwrap();
    let pinned = pins
        .lines()
        .find_map(|l| l.trim().strip_prefix("uv=="))
        .expect("scripts/requirements-test.txt pins uv");
    assert_eq!(pinned, UV_VERSION);
}

#[tokio::test]
async fn a_python_that_imports_uv_lends_its_uv_when_path_has_none() {
    let empty = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let python = ferry_testkit::python();
    let lookup = UvLookup {
        explicit: None,
        python: python.clone(),
        cache: cache.path().to_path_buf(),
        path: Some(empty.path().as_os_str().to_owned()),
    };
    let said = std::sync::Mutex::new(Vec::<String>::new());
    let uv = locate_uv(&lookup, &|m| said.lock().unwrap().push(m.to_string()))
        .await
        .unwrap();
    // The tools venv has the uv package: its binary is in the venv's scripts folder.
    let venv_bin: PathBuf = ferry_testkit::venv_bin();
    assert_eq!(uv.parent().unwrap(), venv_bin, "{}", uv.display());
    assert!(said.into_inner().unwrap().is_empty(), "nothing installed");
    assert_eq!(std::fs::read_dir(cache.path()).unwrap().count(), 0);
}
