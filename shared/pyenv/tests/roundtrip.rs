//! Resolve a real environment from PyPI with uv and pip (the tools venv), store it in a blob
//! directory, build it offline from those files, reuse it, and refuse altered or missing files.
//! Needs PyPI for the resolution (one ~12 kB pure-Python wheel).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use ferry_pyenv::lock::{Lock, PLATFORM_X86_64, host_platform};
use ferry_pyenv::{InstallOptions, PyenvError, Resolver, prepare_env, publish_flow_envs};
use ferry_spec::task::{PackageRef, PythonEnvKind};
use ferry_spec::{FlowSpec, PythonEnv};
use ferry_store::{Blobs, DirBlobs};

fn spec(base: Option<PythonEnv>, conda: bool) -> FlowSpec {
    let mut s: FlowSpec = serde_json::from_value(serde_json::json!({
        "spec_version": 1, "flow": "F", "file": "f.py",
        "steps": [
            {"name": "start", "type": "linear", "next": ["end"]},
            {"name": "end", "type": "end"}
        ]
    }))
    .unwrap();
    if conda {
        s.decorators.conda_base = base;
    } else {
        s.decorators.pypi_base = base;
    }
    s
}

fn env(packages: &[(&str, &str)]) -> PythonEnv {
    PythonEnv {
        packages: packages
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect::<BTreeMap<_, _>>(),
        python: None,
        disabled: false,
    }
}

fn resolver() -> Resolver {
    Resolver::discover(ferry_testkit::python())
}

fn run_python(python: &Path, code: &str) -> (bool, String) {
    let out = Command::new(python)
        .args(["-c", code])
        .env_remove("PYTHONPATH")
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn resolve_store_build_offline_reuse_and_refuse_tampering() {
    assert_eq!(host_platform(), Some(PLATFORM_X86_64), "the CI host");
    let dir = tempfile::tempdir().unwrap();
    let blobs = DirBlobs::open(dir.path().join("blobs")).unwrap();
    let s = spec(Some(env(&[("tomli", "2.0.1")])), false);
    let published = publish_flow_envs(&s, &blobs, &resolver(), &dir.path().join("work"), None)
        .await
        .unwrap();
    assert_eq!(published.steps.len(), 2);
    let start = published.steps["start"].clone();
    assert_eq!(start.kind, PythonEnvKind::Pypi);
    assert_eq!(
        start, published.steps["end"],
        "one environment, resolved once"
    );
    let lock_ref = start.lock.unwrap();
    let lock_bytes = blobs.get(&lock_ref.key).await.unwrap().unwrap();
    assert_eq!(ferry_pyenv::sha256_hex(&lock_bytes), lock_ref.sha256);
    let lock = Lock::from_bytes(&lock_ref.key, &lock_bytes).unwrap();
    for platform in ["linux-x86_64", "linux-aarch64"] {
        let wheels = &lock.platforms[platform];
        assert_eq!(wheels.len(), 1);
        assert_eq!(
            (wheels[0].name.as_str(), wheels[0].version.as_str()),
            ("tomli", "2.0.1")
        );
        let stored = blobs.get(&wheels[0].key).await.unwrap().unwrap();
        assert_eq!(ferry_pyenv::sha256_hex(&stored), wheels[0].sha256);
    }

    // Build from the stored files only: no index is configured for the build at all.
    let opts = InstallOptions {
        cache_dir: dir.path().join("cache"),
        base_python: ferry_testkit::python().display().to_string(),
    };
    let built = prepare_env(&blobs, &lock_ref, &opts).await.unwrap();
    assert!(!built.reused);
    let (ok, out) = run_python(
        &built.python,
        "import importlib.metadata as md, tomli, metaflow; print(md.version('tomli'))",
    );
    assert!(ok, "{out}");
    assert_eq!(out.trim(), "2.0.1");
    let (ok, out) = run_python(&built.python, "import pytest");
    assert!(!ok && out.contains("No module named 'pytest'"), "{out}");

    // The bootstrap's `pip install --target` directory comes last: its modules are found, but
    // the environment's own `tomli` wins over a `tomli` there.
    let site = tempfile::tempdir().unwrap();
    std::fs::write(site.path().join("ferry_site_probe.py"), "X = 1\n").unwrap();
    std::fs::write(
        site.path().join("tomli.py"),
        "raise ImportError('shadowed')\n",
    )
    .unwrap();
    let out = Command::new(&built.python)
        .args([
            "-c",
            "import sys, tomli, ferry_site_probe; print(sys.path[-1]); print(tomli.__file__)",
        ])
        .env_remove("PYTHONPATH")
        .env(ferry_spec::task::ENV_BOOTSTRAP_SITE, site.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], site.path().to_str().unwrap());
    assert!(lines[1].starts_with(built.root.to_str().unwrap()), "{text}");
    // A relative path is ignored (even one that exists from the working directory).
    let out = Command::new(&built.python)
        .args(["-c", "import ferry_site_probe"])
        .env_remove("PYTHONPATH")
        .env(
            ferry_spec::task::ENV_BOOTSTRAP_SITE,
            site.path().file_name().unwrap(),
        )
        .current_dir(site.path().parent().unwrap())
        .output()
        .unwrap();
    assert!(!out.status.success());

    // An image with python3 only (no metaflow, boto3, requests): the environment runs Metaflow
    // from a shipped copy on PYTHONPATH (the code package's `.mf_code`) and `requests` from
    // the bootstrap's directory, while its own `tomli` stays its own.
    let bare = dir.path().join("bare-venv");
    let ok = Command::new(ferry_testkit::python())
        .args(["-m", "venv", "--without-pip"])
        .arg(&bare)
        .status()
        .unwrap()
        .success();
    assert!(ok);
    let bare_env = prepare_env(
        &blobs,
        &lock_ref,
        &InstallOptions {
            cache_dir: dir.path().join("cache-bare"),
            base_python: bare.join("bin/python").display().to_string(),
        },
    )
    .await
    .unwrap();
    let (ok, out) = run_python(&bare_env.python, "import metaflow");
    assert!(!ok && out.contains("No module named 'metaflow'"), "{out}");
    let dirs = Command::new(ferry_testkit::python())
        .args([
            "-c",
            "import importlib.util as u, os\n\
             for n in ('metaflow', 'requests', 'urllib3', 'idna', 'certifi', 'charset_normalizer'):\n\
             \x20   print(os.path.dirname(u.find_spec(n).origin))",
        ])
        .output()
        .unwrap();
    let dirs: Vec<PathBuf> = String::from_utf8(dirs.stdout)
        .unwrap()
        .lines()
        .map(PathBuf::from)
        .collect();
    let mf_code = dir.path().join("pkg/.mf_code");
    std::fs::create_dir_all(&mf_code).unwrap();
    std::os::unix::fs::symlink(&dirs[0], mf_code.join("metaflow")).unwrap();
    let bootstrap_site = dir.path().join("ferry-site");
    std::fs::create_dir_all(&bootstrap_site).unwrap();
    for d in &dirs[1..] {
        std::os::unix::fs::symlink(d, bootstrap_site.join(d.file_name().unwrap())).unwrap();
    }
    let out = Command::new(&bare_env.python)
        .args([
            "-c",
            "import metaflow, requests, tomli; print(metaflow.__file__); print(requests.__file__); print(tomli.__file__)",
        ])
        .env("PYTHONPATH", &mf_code)
        .env(ferry_spec::task::ENV_BOOTSTRAP_SITE, &bootstrap_site)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with(mf_code.to_str().unwrap()), "{text}");
    assert!(
        lines[1].starts_with(bootstrap_site.to_str().unwrap()),
        "{text}"
    );
    assert!(
        lines[2].starts_with(bare_env.root.to_str().unwrap()),
        "{text}"
    );

    let again = prepare_env(&blobs, &lock_ref, &opts).await.unwrap();
    assert!(again.reused);
    assert_eq!(again.python, built.python);

    // A tampered wheel fails a fresh host, naming the file; a missing one too.
    let wheel = &lock.platforms[PLATFORM_X86_64][0];
    let path = dir.path().join("blobs").join(&wheel.key);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.push(b'!');
    std::fs::write(&path, &bytes).unwrap();
    let fresh = InstallOptions {
        cache_dir: dir.path().join("cache2"),
        ..opts.clone()
    };
    let e = prepare_env(&blobs, &lock_ref, &fresh).await.unwrap_err();
    assert!(matches!(e, PyenvError::HashMismatch { .. }), "{e}");
    assert!(e.to_string().contains(&wheel.filename), "{e}");
    std::fs::remove_file(&path).unwrap();
    let e = prepare_env(&blobs, &lock_ref, &fresh).await.unwrap_err();
    assert!(matches!(e, PyenvError::Missing(_)), "{e}");
    assert!(e.to_string().contains(&wheel.filename), "{e}");
    assert!(
        !dir.path().join("cache2/envs").exists()
            || std::fs::read_dir(dir.path().join("cache2/envs"))
                .unwrap()
                .next()
                .is_none()
    );

    // A lock whose bytes do not match its reference is refused.
    let forged = PackageRef {
        key: lock_ref.key.clone(),
        sha256: "0".repeat(64),
    };
    let e = prepare_env(&blobs, &forged, &fresh).await.unwrap_err();
    assert!(matches!(e, PyenvError::HashMismatch { .. }), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn unresolvable_and_conda_only_requirements_fail_naming_the_package() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = DirBlobs::open(dir.path().join("blobs")).unwrap();
    let s = spec(Some(env(&[("tomli", "99.0.0")])), false);
    let e = publish_flow_envs(
        &s,
        &blobs,
        &resolver(),
        &dir.path().join("w1"),
        Some("3.11"),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, PyenvError::Unresolvable { .. }), "{e}");
    assert!(
        e.to_string().contains("tomli") && e.to_string().contains("99.0.0"),
        "{e}"
    );

    let s = spec(Some(env(&[("libgcc-ng", "13.2.0")])), true);
    let e = publish_flow_envs(
        &s,
        &blobs,
        &resolver(),
        &dir.path().join("w2"),
        Some("3.11"),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, PyenvError::CondaOnly { .. }), "{e}");
    assert!(e.to_string().contains("libgcc-ng"), "{e}");
    assert!(
        blobs.list("envs/").await.unwrap().is_empty(),
        "nothing stored"
    );
}
