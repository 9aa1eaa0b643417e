//! Throughput of the SQLite `Table` adapter (a WAL file in a temporary folder): single put, get
//! and add calls from one task, and batches of 64 concurrent adds on one counter.
//!
//! Run: `cargo bench -p ferry-store --bench table` (or `bench/store.sh`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use ferry_store::{Attr, Condition, Item, Query, SqliteTable, Table};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn item(pk: &str, sk: String) -> Item {
    let attrs = BTreeMap::from([
        ("status".to_string(), Attr::S("running".into())),
        ("ts".to_string(), Attr::N(1_700_000_000_000)),
        ("tags".to_string(), Attr::Ss(vec!["a".into(), "b".into()])),
    ]);
    Item {
        pk: pk.into(),
        sk,
        attrs,
    }
}

fn bench(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    let t = SqliteTable::open(dir.path().join("bench.db"), "bench").unwrap();
    let n = AtomicU64::new(0);

    let mut g = c.benchmark_group("sqlite");
    g.throughput(Throughput::Elements(1));
    g.bench_function("put", |b| {
        b.iter(|| {
            let sk = format!("task#{:012}", n.fetch_add(1, Ordering::Relaxed));
            rt.block_on(t.put(item("run#1", sk), Condition::None))
                .unwrap()
        })
    });
    g.bench_function("put_not_exists", |b| {
        b.iter(|| {
            let sk = format!("new#{:012}", n.fetch_add(1, Ordering::Relaxed));
            rt.block_on(t.put(item("run#2", sk), Condition::NotExists))
                .unwrap()
        })
    });
    rt.block_on(t.put(item("run#3", "task#1".into()), Condition::None))
        .unwrap();
    g.bench_function("get", |b| {
        b.iter(|| rt.block_on(t.get("run#3", "task#1")).unwrap().unwrap())
    });
    g.bench_function("add", |b| {
        b.iter(|| rt.block_on(t.add("counter", "c", "n", 1)).unwrap())
    });

    let batch = 64u64;
    g.throughput(Throughput::Elements(batch));
    g.bench_function("add_64_concurrent", |b| {
        b.iter_batched(
            || (),
            |_| {
                rt.block_on(async {
                    let adds = (0..batch).map(|_| t.add("counter", "c2", "n", 1));
                    for r in futures::future::join_all(adds).await {
                        r.unwrap();
                    }
                })
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("get_64_concurrent", |b| {
        b.iter(|| {
            rt.block_on(async {
                let gets = (0..batch).map(|_| t.get("run#3", "task#1"));
                for r in futures::future::join_all(gets).await {
                    r.unwrap().unwrap();
                }
            })
        })
    });

    for i in 0..100 {
        rt.block_on(t.put(item("run#4", format!("task#{i:04}")), Condition::None))
            .unwrap();
    }
    g.throughput(Throughput::Elements(100));
    g.bench_function("query_100", |b| {
        b.iter(|| {
            let page = rt
                .block_on(t.query(
                    "run#4",
                    Query {
                        sk_prefix: "task#".into(),
                        ..Default::default()
                    },
                ))
                .unwrap();
            assert_eq!(page.items.len(), 100);
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
