//! Benchmark driver for `bench/pyenv.sh`: resolve an environment into a blob directory once,
//! then time building it from the stored wheels (cold: fresh host cache; warm: reused).
//!
//! `pyenv_bench <work dir> <python> <runs> <name==version>...` prints one JSON object:
//! `{"lock": key, "wheels": [paths in the blob dir], "cold_ms": [...], "warm_ms": [...]}`.

use std::collections::BTreeMap;
use std::time::Instant;

use ferry_pyenv::lock::{Lock, host_platform};
use ferry_pyenv::{InstallOptions, Resolver, prepare_env, publish_flow_envs};
use ferry_spec::{FlowSpec, PythonEnv};
use ferry_store::{Blobs, DirBlobs};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 5 {
        eprintln!("usage: pyenv_bench <work dir> <python> <runs> <name==version>...");
        std::process::exit(2);
    }
    let work = std::path::PathBuf::from(&args[1]);
    let python = std::path::PathBuf::from(&args[2]);
    let runs: usize = args[3].parse().expect("runs is a number");
    let packages: BTreeMap<String, String> = args[4..]
        .iter()
        .map(|r| {
            let (n, v) = r.split_once("==").expect("name==version");
            (n.to_string(), v.to_string())
        })
        .collect();
    let mut spec: FlowSpec = serde_json::from_value(serde_json::json!({
        "spec_version": 1, "flow": "BenchFlow", "file": "bench.py",
        "steps": [{"name": "start", "type": "end"}]
    }))
    .expect("spec");
    spec.decorators.pypi_base = Some(PythonEnv {
        packages,
        python: None,
        disabled: false,
    });
    let blobs_dir = work.join("blobs");
    let blobs = DirBlobs::open(&blobs_dir).expect("blob dir");
    let published = publish_flow_envs(
        &spec,
        &blobs,
        &Resolver::discover(python.clone()),
        &work.join("resolve"),
        None,
    )
    .await
    .expect("resolution");
    let lock_ref = published.steps["start"].lock.clone().expect("a lock");
    let lock = Lock::from_bytes(
        &lock_ref.key,
        &blobs.get(&lock_ref.key).await.unwrap().unwrap(),
    )
    .unwrap();
    let wheels: Vec<String> = lock.platforms[host_platform().unwrap()]
        .iter()
        .map(|w| blobs_dir.join(&w.key).display().to_string())
        .collect();
    let mut cold = Vec::new();
    let mut warm = Vec::new();
    for i in 0..runs {
        let opts = InstallOptions {
            cache_dir: work.join(format!("cache-{i}")),
            base_python: python.display().to_string(),
        };
        let t = Instant::now();
        let env = prepare_env(&blobs, &lock_ref, &opts)
            .await
            .expect("cold build");
        cold.push(t.elapsed().as_secs_f64() * 1000.0);
        assert!(!env.reused);
        let t = Instant::now();
        let env = prepare_env(&blobs, &lock_ref, &opts)
            .await
            .expect("warm build");
        warm.push(t.elapsed().as_secs_f64() * 1000.0);
        assert!(env.reused);
    }
    println!(
        "{}",
        serde_json::json!({
            "lock": lock_ref.key,
            "python": work.join("cache-0").display().to_string(),
            "wheels": wheels,
            "cold_ms": cold,
            "warm_ms": warm,
        })
    );
}
