//! The conformance suite of the storage ports, written once over `&dyn Table` / `&dyn Blobs` and
//! run against every adapter: SQLite (a file and in memory) and a directory always; DynamoDB and
//! S3 on a moto server when the `aws` feature is on (it is for `cargo test`: see Cargo.toml).
//!
//! Every case works in its own partition (`unique` pk) or key prefix, so cases can share a table.

use std::collections::BTreeMap;
use std::process::Command;

use ferry_store::{
    Attr, BlobError, Blobs, Condition, DirBlobs, Item, Query, SqliteTable, Table, TableError,
    WriteOp,
};
use futures::future::join_all;

// ---- helpers ---------------------------------------------------------------------------------

fn unique(prefix: &str) -> String {
    ferry_testkit::unique(prefix)
}

fn attrs(pairs: &[(&str, Attr)]) -> BTreeMap<String, Attr> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

fn item(pk: &str, sk: &str, pairs: &[(&str, Attr)]) -> Item {
    Item {
        pk: pk.into(),
        sk: sk.into(),
        attrs: attrs(pairs),
    }
}

fn s(v: &str) -> Attr {
    Attr::S(v.into())
}

fn ss(v: &[&str]) -> Attr {
    Attr::Ss(v.iter().map(|x| x.to_string()).collect())
}

fn is_condition_failed(r: &Result<(), TableError>) -> bool {
    matches!(r, Err(TableError::ConditionFailed { .. }))
}

// ---- the Table suite -------------------------------------------------------------------------

/// Whether the backend applies concurrent updates of one item one at a time, as DynamoDB and
/// SQLite do. Moto's server does not (it handles requests on threads without a lock per item:
/// two racing `UpdateItem ADD`s can both read the old value), so under moto the racing-add case
/// checks only what moto can keep.
#[derive(Clone, Copy, PartialEq)]
enum Updates {
    Serialized,
    MotoUnlocked,
}

/// Every table case, in order.
async fn table_suite(t: &dyn Table, updates: Updates) {
    put_get_round_trip(t).await;
    put_not_exists_twice(t).await;
    optimistic_lock(t).await;
    racing_creates_one_winner(t).await;
    racing_optimistic_updates(t).await;
    delete_cases(t).await;
    add_from_zero(t).await;
    add_concurrent(t, updates).await;
    add_to_set_cases(t).await;
    add_to_set_concurrent(t).await;
    set_keeps_other_attrs(t).await;
    query_cases(t).await;
    query_projections(t).await;
    transact_all_or_nothing(t).await;
    transact_applies_all(t).await;
    invalid_requests(t).await;
}

async fn put_get_round_trip(t: &dyn Table) {
    let pk = unique("rt");
    assert_eq!(t.get(&pk, "x").await.unwrap(), None, "missing item");
    let written = item(
        &pk,
        "x",
        &[
            ("s", s("héllo / wörld")),
            ("n", Attr::N(-42)),
            ("big", Attr::N(i64::MAX)),
            ("ss", ss(&["b", "a", "b"])),
            ("ns", Attr::Ns(vec!["10".into(), "2".into(), "3".into()])),
            ("yes", Attr::Bool(true)),
            ("no", Attr::Bool(false)),
            ("empty", Attr::Ss(vec![])),
            ("blank", s("")),
        ],
    );
    t.put(written, Condition::None).await.unwrap();
    let got = t.get(&pk, "x").await.unwrap().expect("item written");
    let expected = item(
        &pk,
        "x",
        &[
            ("s", s("héllo / wörld")),
            ("n", Attr::N(-42)),
            ("big", Attr::N(i64::MAX)),
            // Sets come back sorted and de-duplicated (numbers numerically); empty sets vanish.
            ("ss", ss(&["a", "b"])),
            ("ns", Attr::Ns(vec!["2".into(), "3".into(), "10".into()])),
            ("yes", Attr::Bool(true)),
            ("no", Attr::Bool(false)),
            ("blank", s("")),
        ],
    );
    assert_eq!(got, expected);
    // A put replaces the whole item.
    t.put(item(&pk, "x", &[("only", Attr::N(1))]), Condition::None)
        .await
        .unwrap();
    assert_eq!(
        t.get(&pk, "x").await.unwrap().unwrap().attrs,
        attrs(&[("only", Attr::N(1))])
    );
}

async fn put_not_exists_twice(t: &dyn Table) {
    let pk = unique("once");
    t.put(item(&pk, "a", &[("v", s("first"))]), Condition::NotExists)
        .await
        .unwrap();
    let second = t
        .put(item(&pk, "a", &[("v", s("second"))]), Condition::NotExists)
        .await;
    assert!(
        is_condition_failed(&second),
        "second NotExists put: {second:?}"
    );
    assert_eq!(
        t.get(&pk, "a").await.unwrap().unwrap().attrs["v"],
        s("first")
    );
    // Exists on a missing item fails, on a present one succeeds.
    let r = t.put(item(&pk, "missing", &[]), Condition::Exists).await;
    assert!(is_condition_failed(&r), "Exists on missing: {r:?}");
    assert_eq!(t.get(&pk, "missing").await.unwrap(), None);
    t.put(item(&pk, "a", &[("v", s("third"))]), Condition::Exists)
        .await
        .unwrap();
    assert_eq!(
        t.get(&pk, "a").await.unwrap().unwrap().attrs["v"],
        s("third")
    );
}

async fn optimistic_lock(t: &dyn Table) {
    let pk = unique("lock");
    t.put(
        item(&pk, "doc", &[("version", Attr::N(1)), ("body", s("v1"))]),
        Condition::NotExists,
    )
    .await
    .unwrap();
    let v1 = Condition::AttrEquals("version".into(), Attr::N(1));
    t.put(
        item(&pk, "doc", &[("version", Attr::N(2)), ("body", s("v2"))]),
        v1.clone(),
    )
    .await
    .unwrap();
    let stale = t
        .put(
            item(&pk, "doc", &[("version", Attr::N(2)), ("body", s("lost"))]),
            v1.clone(),
        )
        .await;
    assert!(is_condition_failed(&stale), "stale version: {stale:?}");
    assert_eq!(
        t.get(&pk, "doc").await.unwrap().unwrap().attrs["body"],
        s("v2")
    );
    // Type matters: the string "2" is not the number 2.
    let wrong_type = t
        .set(
            &pk,
            "doc",
            attrs(&[("body", s("x"))]),
            Condition::AttrEquals("version".into(), s("2")),
        )
        .await;
    assert!(is_condition_failed(&wrong_type), "S vs N: {wrong_type:?}");
    // On a missing item or a missing attribute the condition fails.
    let missing = t.put(item(&pk, "nope", &[]), v1.clone()).await;
    assert!(
        is_condition_failed(&missing),
        "AttrEquals on missing item: {missing:?}"
    );
    let no_attr = t
        .set(
            &pk,
            "doc",
            attrs(&[]),
            Condition::AttrEquals("absent".into(), Attr::N(2)),
        )
        .await;
    assert!(
        is_condition_failed(&no_attr),
        "AttrEquals on missing attribute: {no_attr:?}"
    );
    // Sets compare as sets.
    t.set(
        &pk,
        "doc",
        attrs(&[("tags", ss(&["x", "y"]))]),
        Condition::None,
    )
    .await
    .unwrap();
    t.set(
        &pk,
        "doc",
        attrs(&[("body", s("v3"))]),
        Condition::AttrEquals("tags".into(), ss(&["y", "x"])),
    )
    .await
    .unwrap();
    assert_eq!(
        t.get(&pk, "doc").await.unwrap().unwrap().attrs["body"],
        s("v3")
    );
}

async fn racing_creates_one_winner(t: &dyn Table) {
    let pk = unique("create-race");
    let puts = (0..40).map(|i| {
        t.put(
            item(&pk, "one", &[("by", Attr::N(i))]),
            Condition::NotExists,
        )
    });
    let results = join_all(puts).await;
    let winners: Vec<i64> = results
        .iter()
        .enumerate()
        .filter(|(_, r)| r.is_ok())
        .map(|(i, _)| i as i64)
        .collect();
    assert_eq!(
        winners.len(),
        1,
        "exactly one NotExists put wins: {results:?}"
    );
    assert!(
        results.iter().all(|r| r.is_ok() || is_condition_failed(r)),
        "{results:?}"
    );
    let got = t.get(&pk, "one").await.unwrap().unwrap();
    assert_eq!(
        got.attrs["by"],
        Attr::N(winners[0]),
        "the winner's item is stored"
    );
}

/// Read-modify-write loops with `AttrEquals` on a version: no update is lost.
async fn racing_optimistic_updates(t: &dyn Table) {
    let pk = unique("occ");
    t.put(
        item(&pk, "doc", &[("version", Attr::N(0)), ("log", s(""))]),
        Condition::None,
    )
    .await
    .unwrap();
    let writer = |w: usize| {
        let pk = pk.clone();
        async move {
            loop {
                let cur = t.get(&pk, "doc").await.unwrap().unwrap();
                let (Attr::N(v), Attr::S(log)) = (&cur.attrs["version"], &cur.attrs["log"]) else {
                    panic!("shape")
                };
                let next = item(
                    &pk,
                    "doc",
                    &[
                        ("version", Attr::N(v + 1)),
                        ("log", s(&format!("{log}{w},"))),
                    ],
                );
                let cond = Condition::AttrEquals("version".into(), Attr::N(*v));
                match t.put(next, cond).await {
                    Ok(()) => return,
                    Err(TableError::ConditionFailed { .. }) => continue,
                    Err(e) => panic!("optimistic update: {e}"),
                }
            }
        }
    };
    let n = 12;
    join_all((0..n).map(writer)).await;
    let got = t.get(&pk, "doc").await.unwrap().unwrap();
    assert_eq!(got.attrs["version"], Attr::N(n as i64));
    let Attr::S(log) = &got.attrs["log"] else {
        panic!("log")
    };
    let mut writers: Vec<usize> = log
        .split_terminator(',')
        .map(|x| x.parse().unwrap())
        .collect();
    writers.sort_unstable();
    assert_eq!(
        writers,
        (0..n).collect::<Vec<_>>(),
        "every writer's update is kept once"
    );
}

async fn delete_cases(t: &dyn Table) {
    let pk = unique("del");
    t.delete(&pk, "never", Condition::None).await.unwrap();
    let r = t.delete(&pk, "never", Condition::Exists).await;
    assert!(is_condition_failed(&r), "delete Exists on missing: {r:?}");
    t.put(item(&pk, "a", &[("state", s("open"))]), Condition::None)
        .await
        .unwrap();
    let r = t
        .delete(&pk, "a", Condition::AttrEquals("state".into(), s("closed")))
        .await;
    assert!(
        is_condition_failed(&r),
        "delete with a false condition: {r:?}"
    );
    assert!(
        t.get(&pk, "a").await.unwrap().is_some(),
        "a failed delete keeps the item"
    );
    t.delete(&pk, "a", Condition::AttrEquals("state".into(), s("open")))
        .await
        .unwrap();
    assert_eq!(t.get(&pk, "a").await.unwrap(), None);
    t.put(item(&pk, "b", &[]), Condition::None).await.unwrap();
    t.delete(&pk, "b", Condition::None).await.unwrap();
    assert_eq!(t.get(&pk, "b").await.unwrap(), None);
}

async fn add_from_zero(t: &dyn Table) {
    let pk = unique("add");
    assert_eq!(
        t.add(&pk, "c", "n", 5).await.unwrap(),
        5,
        "a missing item counts from 0"
    );
    assert_eq!(t.add(&pk, "c", "n", -2).await.unwrap(), 3);
    assert_eq!(
        t.add(&pk, "c", "other", 1).await.unwrap(),
        1,
        "a missing attribute counts from 0"
    );
    let got = t.get(&pk, "c").await.unwrap().unwrap();
    assert_eq!(
        got.attrs,
        attrs(&[("n", Attr::N(3)), ("other", Attr::N(1))])
    );
    // add keeps the item's other attributes.
    t.set(&pk, "c", attrs(&[("label", s("x"))]), Condition::None)
        .await
        .unwrap();
    assert_eq!(t.add(&pk, "c", "n", 10).await.unwrap(), 13);
    assert_eq!(
        t.get(&pk, "c").await.unwrap().unwrap().attrs["label"],
        s("x")
    );
    // Adding to a string is invalid and changes nothing.
    let r = t.add(&pk, "c", "label", 1).await;
    assert!(matches!(r, Err(TableError::Invalid(_))), "add to S: {r:?}");
    assert_eq!(
        t.get(&pk, "c").await.unwrap().unwrap().attrs["label"],
        s("x")
    );
}

async fn add_concurrent(t: &dyn Table, updates: Updates) {
    let pk = unique("race");
    let n = 200;
    let results = join_all((0..n).map(|_| t.add(&pk, "counter", "n", 1))).await;
    let mut values: Vec<i64> = results
        .into_iter()
        .map(|r| r.expect("concurrent add"))
        .collect();
    values.sort_unstable();
    if updates == Updates::MotoUnlocked {
        // Every add succeeded and saw a count in range; moto may lose an increment.
        assert!(values.iter().all(|v| (1..=n).contains(v)), "{values:?}");
        return;
    }
    assert_eq!(
        values,
        (1..=n).collect::<Vec<i64>>(),
        "every add sees a distinct value"
    );
    assert_eq!(
        t.get(&pk, "counter").await.unwrap().unwrap().attrs["n"],
        Attr::N(n)
    );
}

async fn add_to_set_cases(t: &dyn Table) {
    let pk = unique("set");
    t.add_to_set(&pk, "s", "members", &["b".into(), "a".into()])
        .await
        .unwrap();
    t.add_to_set(&pk, "s", "members", &["a".into()])
        .await
        .unwrap();
    t.add_to_set(&pk, "s", "members", &["a".into(), "b".into()])
        .await
        .unwrap();
    let got = t.get(&pk, "s").await.unwrap().unwrap();
    assert_eq!(
        got.attrs,
        attrs(&[("members", ss(&["a", "b"]))]),
        "adding members twice is a no-op"
    );
    t.set(&pk, "s", attrs(&[("keep", Attr::N(7))]), Condition::None)
        .await
        .unwrap();
    t.add_to_set(&pk, "s", "members", &["c".into()])
        .await
        .unwrap();
    let got = t.get(&pk, "s").await.unwrap().unwrap();
    assert_eq!(
        got.attrs,
        attrs(&[("members", ss(&["a", "b", "c"])), ("keep", Attr::N(7))])
    );
    // Nothing to add: nothing happens (not even the item is created).
    t.add_to_set(&pk, "none", "members", &[]).await.unwrap();
    assert_eq!(t.get(&pk, "none").await.unwrap(), None);
    // A set on a number attribute is invalid.
    let r = t.add_to_set(&pk, "s", "keep", &["x".into()]).await;
    assert!(
        matches!(r, Err(TableError::Invalid(_))),
        "add_to_set on N: {r:?}"
    );
}

async fn add_to_set_concurrent(t: &dyn Table) {
    let pk = unique("setrace");
    let values: Vec<String> = (0..60).map(|i| format!("task-{i:03}")).collect();
    // Every value twice, concurrently.
    let calls = values
        .iter()
        .chain(values.iter())
        .map(|v| t.add_to_set(&pk, "s", "done", std::slice::from_ref(v)));
    for r in join_all(calls).await {
        r.expect("concurrent add_to_set");
    }
    let got = t.get(&pk, "s").await.unwrap().unwrap();
    assert_eq!(got.attrs["done"], Attr::Ss(values));
}

async fn set_keeps_other_attrs(t: &dyn Table) {
    let pk = unique("upd");
    t.put(
        item(
            &pk,
            "i",
            &[("a", s("1")), ("b", s("2")), ("tags", ss(&["x"]))],
        ),
        Condition::None,
    )
    .await
    .unwrap();
    t.set(
        &pk,
        "i",
        attrs(&[("b", s("20")), ("c", Attr::N(3))]),
        Condition::None,
    )
    .await
    .unwrap();
    let got = t.get(&pk, "i").await.unwrap().unwrap();
    assert_eq!(
        got.attrs,
        attrs(&[
            ("a", s("1")),
            ("b", s("20")),
            ("c", Attr::N(3)),
            ("tags", ss(&["x"]))
        ])
    );
    // Setting an empty set removes the attribute.
    t.set(
        &pk,
        "i",
        attrs(&[("tags", Attr::Ss(vec![]))]),
        Condition::None,
    )
    .await
    .unwrap();
    assert!(
        !t.get(&pk, "i")
            .await
            .unwrap()
            .unwrap()
            .attrs
            .contains_key("tags")
    );
    // Conditions.
    let r = t
        .set(&pk, "i", attrs(&[("a", s("x"))]), Condition::NotExists)
        .await;
    assert!(is_condition_failed(&r), "set NotExists on present: {r:?}");
    let r = t
        .set(&pk, "new", attrs(&[("a", s("x"))]), Condition::Exists)
        .await;
    assert!(is_condition_failed(&r), "set Exists on missing: {r:?}");
    assert_eq!(t.get(&pk, "new").await.unwrap(), None);
    t.set(
        &pk,
        "i",
        attrs(&[("a", s("one"))]),
        Condition::AttrEquals("a".into(), s("1")),
    )
    .await
    .unwrap();
    assert_eq!(t.get(&pk, "i").await.unwrap().unwrap().attrs["a"], s("one"));
    // set creates a missing item.
    t.set(&pk, "new", attrs(&[("a", s("x"))]), Condition::None)
        .await
        .unwrap();
    assert_eq!(
        t.get(&pk, "new").await.unwrap().unwrap().attrs,
        attrs(&[("a", s("x"))])
    );
}

/// All the sort keys of a query, following `next` until the last page; checks every page is
/// at most `limit` long and that only the last page has no `next`.
async fn query_all(
    t: &dyn Table,
    pk: &str,
    prefix: &str,
    descending: bool,
    limit: Option<usize>,
) -> Vec<String> {
    let mut out = Vec::new();
    let mut after = None;
    for _ in 0..100 {
        let page = t
            .query(
                pk,
                Query {
                    sk_prefix: prefix.into(),
                    descending,
                    limit,
                    after: after.clone(),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        if let Some(l) = limit {
            assert!(page.items.len() <= l, "page longer than the limit");
        }
        for i in &page.items {
            assert_eq!(i.pk, pk);
        }
        out.extend(page.items.into_iter().map(|i| i.sk));
        match page.next {
            Some(n) => {
                assert_eq!(
                    Some(&n),
                    out.last(),
                    "next is the last sort key of the page"
                );
                after = Some(n);
            }
            None => return out,
        }
    }
    panic!("query did not end");
}

async fn query_cases(t: &dyn Table) {
    let pk = unique("q");
    let orders: Vec<String> = (1..=10).map(|i| format!("order#{i:03}")).collect();
    for (i, sk) in orders.iter().enumerate() {
        t.put(item(&pk, sk, &[("i", Attr::N(i as i64))]), Condition::None)
            .await
            .unwrap();
    }
    for sk in ["a", "order", "orders#1", "zz", "ordeR#5"] {
        t.put(item(&pk, sk, &[]), Condition::None).await.unwrap();
    }
    t.put(item(&unique("q-other"), "order#001", &[]), Condition::None)
        .await
        .unwrap();

    // Prefix, ascending, with attributes.
    let page = t
        .query(
            &pk,
            Query {
                sk_prefix: "order#".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        page.items.iter().map(|i| i.sk.clone()).collect::<Vec<_>>(),
        orders
    );
    assert_eq!(page.items[3].attrs, attrs(&[("i", Attr::N(3))]));
    assert_eq!(page.next, None);
    // Descending.
    let mut rev = orders.clone();
    rev.reverse();
    assert_eq!(query_all(t, &pk, "order#", true, None).await, rev);
    // Limit: the first page and its next.
    let page = t
        .query(
            &pk,
            Query {
                sk_prefix: "order#".into(),
                limit: Some(3),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(page.items.len(), 3);
    assert_eq!(page.next.as_deref(), Some("order#003"));
    // Pagination, both ways, including a limit that divides the count exactly.
    for limit in [1, 3, 5, 10, 11] {
        assert_eq!(
            query_all(t, &pk, "order#", false, Some(limit)).await,
            orders,
            "limit {limit}"
        );
        assert_eq!(
            query_all(t, &pk, "order#", true, Some(limit)).await,
            rev,
            "desc limit {limit}"
        );
    }
    // `after` without a limit.
    let page = t
        .query(
            &pk,
            Query {
                sk_prefix: "order#".into(),
                after: Some("order#008".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        page.items.iter().map(|i| i.sk.as_str()).collect::<Vec<_>>(),
        ["order#009", "order#010"]
    );
    // Whole partition, in byte order.
    let mut all: Vec<String> = orders.clone();
    all.extend(["a", "order", "orders#1", "zz", "ordeR#5"].map(String::from));
    all.sort();
    assert_eq!(query_all(t, &pk, "", false, Some(4)).await, all);
    // Nothing.
    assert!(query_all(t, &pk, "nothing", false, None).await.is_empty());
    assert!(
        query_all(t, &unique("q-empty"), "", false, Some(2))
            .await
            .is_empty()
    );
}

/// `Query::attributes`: only the named attributes come back (with the keys), whatever their
/// type, names that are reserved words in DynamoDB included; with paging as without.
async fn query_projections(t: &dyn Table) {
    let pk = unique("proj");
    for i in 0..5i64 {
        t.put(
            item(
                &pk,
                &format!("T#{i:03}"),
                &[
                    ("status", s("done")),
                    ("n", Attr::N(i)),
                    ("ok", Attr::Bool(i % 2 == 0)),
                    ("tags", ss(&["a", "b"])),
                    ("nums", Attr::Ns(vec!["1".into(), "2".into()])),
                    ("big", s(&"x".repeat(2000))),
                ],
            ),
            Condition::None,
        )
        .await
        .unwrap();
    }
    t.put(item(&pk, "T#zzz", &[("n", Attr::N(9))]), Condition::None)
        .await
        .unwrap();
    let only = |names: &[&str]| Some(names.iter().map(|n| n.to_string()).collect::<Vec<_>>());
    let page = t
        .query(
            &pk,
            Query {
                sk_prefix: "T#".into(),
                attributes: only(&["status", "ok", "nums", "absent"]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(page.items.len(), 6);
    assert_eq!(page.items[0].pk, pk);
    assert_eq!(page.items[0].sk, "T#000");
    assert_eq!(
        page.items[1].attrs,
        attrs(&[
            ("status", s("done")),
            ("ok", Attr::Bool(false)),
            ("nums", Attr::Ns(vec!["1".into(), "2".into()])),
        ])
    );
    assert!(
        page.items[5].attrs.is_empty(),
        "an item without the attributes comes with its keys alone"
    );
    // Keys only, paged, newest first.
    let page = t
        .query(
            &pk,
            Query {
                sk_prefix: "T#".into(),
                descending: true,
                limit: Some(2),
                after: Some("T#004".into()),
                attributes: Some(vec![]),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        page.items.iter().map(|i| i.sk.as_str()).collect::<Vec<_>>(),
        ["T#003", "T#002"]
    );
    assert!(page.items.iter().all(|i| i.attrs.is_empty()));
    assert_eq!(page.next.as_deref(), Some("T#002"));
    // Sets and numbers keep their types through a projection.
    let page = t
        .query(
            &pk,
            Query {
                sk_prefix: "T#00".into(),
                limit: Some(1),
                attributes: only(&["tags", "n"]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        page.items[0].attrs,
        attrs(&[("tags", ss(&["a", "b"])), ("n", Attr::N(0))])
    );
    // A key or an empty name is no attribute to project.
    for bad in [&["pk"][..], &[""][..]] {
        let r = t
            .query(
                &pk,
                Query {
                    attributes: only(bad),
                    ..Default::default()
                },
            )
            .await;
        assert!(matches!(r, Err(TableError::Invalid(_))), "{bad:?}: {r:?}");
    }
}

async fn transact_all_or_nothing(t: &dyn Table) {
    let pk = unique("tx");
    t.put(item(&pk, "present", &[("v", Attr::N(1))]), Condition::None)
        .await
        .unwrap();
    let r = t
        .transact(vec![
            WriteOp::Put {
                item: item(&pk, "x", &[("v", Attr::N(1))]),
                condition: Condition::NotExists,
            },
            WriteOp::Delete {
                pk: pk.clone(),
                sk: "present".into(),
            },
            WriteOp::Put {
                item: item(&pk, "y", &[]),
                condition: Condition::None,
            },
            WriteOp::Check {
                pk: pk.clone(),
                sk: "absent".into(),
                condition: Condition::Exists,
            },
        ])
        .await;
    match r {
        Err(TableError::ConditionFailed { index }) => {
            assert_eq!(index, Some(3), "the failing operation")
        }
        other => panic!("expected ConditionFailed, got {other:?}"),
    }
    assert_eq!(t.get(&pk, "x").await.unwrap(), None, "nothing written");
    assert_eq!(t.get(&pk, "y").await.unwrap(), None, "nothing written");
    assert!(
        t.get(&pk, "present").await.unwrap().is_some(),
        "nothing deleted"
    );
    // The failing index is the first false condition.
    let r = t
        .transact(vec![
            WriteOp::Put {
                item: item(&pk, "x", &[]),
                condition: Condition::None,
            },
            WriteOp::Put {
                item: item(&pk, "present", &[]),
                condition: Condition::AttrEquals("v".into(), Attr::N(2)),
            },
        ])
        .await;
    match r {
        Err(TableError::ConditionFailed { index }) => assert_eq!(index, Some(1)),
        other => panic!("expected ConditionFailed, got {other:?}"),
    }
    assert_eq!(t.get(&pk, "x").await.unwrap(), None);
}

async fn transact_applies_all(t: &dyn Table) {
    let pk = unique("tx-ok");
    t.put(item(&pk, "gone", &[]), Condition::None)
        .await
        .unwrap();
    t.put(
        item(&pk, "guard", &[("open", Attr::Bool(true))]),
        Condition::None,
    )
    .await
    .unwrap();
    t.transact(vec![
        WriteOp::Check {
            pk: pk.clone(),
            sk: "guard".into(),
            condition: Condition::AttrEquals("open".into(), Attr::Bool(true)),
        },
        WriteOp::Put {
            item: item(&pk, "a", &[("v", s("a"))]),
            condition: Condition::NotExists,
        },
        WriteOp::Put {
            item: item(&pk, "b", &[("v", Attr::N(2))]),
            condition: Condition::None,
        },
        WriteOp::Delete {
            pk: pk.clone(),
            sk: "gone".into(),
        },
        WriteOp::Delete {
            pk: pk.clone(),
            sk: "never-was".into(),
        },
    ])
    .await
    .unwrap();
    assert_eq!(
        t.get(&pk, "a").await.unwrap().unwrap().attrs,
        attrs(&[("v", s("a"))])
    );
    assert_eq!(
        t.get(&pk, "b").await.unwrap().unwrap().attrs,
        attrs(&[("v", Attr::N(2))])
    );
    assert_eq!(t.get(&pk, "gone").await.unwrap(), None);
    assert_eq!(
        query_all(t, &pk, "", false, None).await,
        ["a", "b", "guard"]
    );
    // Two operations on one item are refused before anything is written.
    let r = t
        .transact(vec![
            WriteOp::Put {
                item: item(&pk, "c", &[]),
                condition: Condition::None,
            },
            WriteOp::Delete {
                pk: pk.clone(),
                sk: "c".into(),
            },
        ])
        .await;
    assert!(
        matches!(r, Err(TableError::Invalid(_))),
        "duplicate items: {r:?}"
    );
    assert_eq!(t.get(&pk, "c").await.unwrap(), None);
}

async fn invalid_requests(t: &dyn Table) {
    let pk = unique("bad");
    let invalid = |r: Result<(), TableError>| matches!(r, Err(TableError::Invalid(_)));
    assert!(
        invalid(t.put(item("", "x", &[]), Condition::None).await),
        "empty pk"
    );
    assert!(
        invalid(t.put(item(&pk, "", &[]), Condition::None).await),
        "empty sk"
    );
    assert!(
        invalid(
            t.put(item(&pk, &"k".repeat(1025), &[]), Condition::None)
                .await
        ),
        "sk > 1 KB"
    );
    assert!(
        invalid(
            t.put(item(&pk, "x", &[("pk", s("clash"))]), Condition::None)
                .await
        ),
        "attr named pk"
    );
    assert!(matches!(t.get("", "x").await, Err(TableError::Invalid(_))));
    assert!(matches!(
        t.add(&pk, "x", "", 1).await,
        Err(TableError::Invalid(_))
    ));
    let r = t
        .query(
            &pk,
            Query {
                limit: Some(0),
                ..Default::default()
            },
        )
        .await;
    assert!(matches!(r, Err(TableError::Invalid(_))), "limit 0");
    let ops = (0..101)
        .map(|i| WriteOp::Put {
            item: item(&pk, &format!("i{i}"), &[]),
            condition: Condition::None,
        })
        .collect();
    assert!(invalid(t.transact(ops).await), "101 operations");
    assert!(
        query_all(t, &pk, "", false, None).await.is_empty(),
        "nothing written"
    );
}

// ---- the Blobs suite -------------------------------------------------------------------------

async fn blobs_suite(b: &dyn Blobs) {
    let root = unique("blobs");
    let k = |rest: &str| format!("{root}/{rest}");

    assert_eq!(b.get(&k("missing")).await.unwrap(), None);
    assert!(!b.exists(&k("missing")).await.unwrap());

    b.put(&k("a/1"), b"one".to_vec()).await.unwrap();
    b.put(&k("a/2"), Vec::new()).await.unwrap();
    b.put(&k("a/b/3"), vec![0u8, 255, 10, 13]).await.unwrap();
    b.put(&k("ab"), b"ab".to_vec()).await.unwrap();
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    b.put(&k("big.bin"), big.clone()).await.unwrap();

    assert_eq!(
        b.get(&k("a/1")).await.unwrap().as_deref(),
        Some(&b"one"[..])
    );
    assert_eq!(
        b.get(&k("a/2")).await.unwrap(),
        Some(Vec::new()),
        "empty object"
    );
    assert_eq!(
        b.get(&k("a/b/3")).await.unwrap(),
        Some(vec![0u8, 255, 10, 13])
    );
    assert_eq!(b.get(&k("big.bin")).await.unwrap(), Some(big));
    assert!(b.exists(&k("a/1")).await.unwrap());
    // A "folder" is not an object.
    assert!(!b.exists(&k("a")).await.unwrap());
    assert_eq!(b.get(&k("a/b")).await.unwrap(), None);

    // Overwrite.
    b.put(&k("a/1"), b"uno".to_vec()).await.unwrap();
    assert_eq!(
        b.get(&k("a/1")).await.unwrap().as_deref(),
        Some(&b"uno"[..])
    );

    // List: sorted, by plain string prefix.
    assert_eq!(
        b.list(&k("a/")).await.unwrap(),
        [k("a/1"), k("a/2"), k("a/b/3")]
    );
    assert_eq!(
        b.list(&k("a")).await.unwrap(),
        [k("a/1"), k("a/2"), k("a/b/3"), k("ab")]
    );
    assert_eq!(b.list(&k("a/b")).await.unwrap(), [k("a/b/3")]);
    assert_eq!(b.list(&format!("{root}/")).await.unwrap().len(), 5);
    assert!(b.list(&k("zzz")).await.unwrap().is_empty());
    assert!(b.list(&k("nothing/here/")).await.unwrap().is_empty());

    // Delete.
    b.delete(&k("a/b/3")).await.unwrap();
    b.delete(&k("a/b/3")).await.unwrap();
    b.delete(&k("never")).await.unwrap();
    assert!(!b.exists(&k("a/b/3")).await.unwrap());
    assert_eq!(b.list(&k("a/")).await.unwrap(), [k("a/1"), k("a/2")]);

    // Concurrent puts of one key: the object is always one whole body.
    let bodies: Vec<Vec<u8>> = (0..8u8).map(|i| vec![i; 50_000]).collect();
    let race = k("race");
    let puts = bodies.iter().map(|body| b.put(&race, body.clone()));
    for r in join_all(puts).await {
        r.unwrap();
    }
    let got = b.get(&k("race")).await.unwrap().unwrap();
    assert!(bodies.contains(&got), "a whole body");
    assert_eq!(
        b.list(&k("race")).await.unwrap(),
        [k("race")],
        "no temporary objects listed"
    );

    // URL names the key.
    let url = b.url(&k("a/1"));
    assert!(url.ends_with(&k("a/1")), "{url}");
    assert!(
        url.starts_with("file:///") || url.starts_with("s3://"),
        "{url}"
    );

    // Invalid keys are refused by every operation.
    for bad in [
        "../x",
        "/etc/x",
        "a//b",
        "",
        "a/./b",
        "a/../../b",
        "a\\b",
        "x/",
    ] {
        let invalid = |r: Result<(), BlobError>| matches!(r, Err(BlobError::InvalidKey(..)));
        assert!(invalid(b.put(bad, b"x".to_vec()).await), "put {bad:?}");
        assert!(invalid(b.get(bad).await.map(|_| ())), "get {bad:?}");
        assert!(invalid(b.exists(bad).await.map(|_| ())), "exists {bad:?}");
        assert!(invalid(b.delete(bad).await), "delete {bad:?}");
    }
    assert!(matches!(
        b.list("../").await,
        Err(BlobError::InvalidKey(..))
    ));
}

// ---- SQLite and directory --------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_file_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let t = SqliteTable::open(dir.path().join("store.db"), "conformance").unwrap();
    table_suite(&t, Updates::Serialized).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_memory_conforms() {
    table_suite(&SqliteTable::memory(), Updates::Serialized).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dir_blobs_conform() {
    let dir = tempfile::tempdir().unwrap();
    let b = DirBlobs::open(dir.path().join("blobs")).unwrap();
    blobs_suite(&b).await;
    // Nothing escaped the root, and no temporary file was left behind.
    let mut stack = vec![dir.path().join("blobs")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(d).unwrap() {
            let e = e.unwrap();
            assert!(
                !e.file_name().to_string_lossy().starts_with(".ferry-tmp"),
                "left {:?}",
                e.path()
            );
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            }
        }
    }
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "only the root folder"
    );
}

#[tokio::test]
async fn dir_blobs_refuse_temporary_names() {
    let dir = tempfile::tempdir().unwrap();
    let b = DirBlobs::open(dir.path()).unwrap();
    let r = b.put("a/.ferry-tmp.x", b"x".to_vec()).await;
    assert!(matches!(r, Err(BlobError::InvalidKey(..))), "{r:?}");
}

#[tokio::test]
async fn dir_blobs_url_is_absolute_file_url() {
    let dir = tempfile::tempdir().unwrap();
    let b = DirBlobs::open(dir.path()).unwrap();
    b.put("x/y.txt", b"hi".to_vec()).await.unwrap();
    let url = b.url("x/y.txt");
    let path = url.strip_prefix("file://").expect("file URL");
    assert_eq!(std::fs::read(path).unwrap(), b"hi");
}

#[tokio::test]
async fn sqlite_logical_tables_are_separate() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.db");
    let a = SqliteTable::open(&path, "a").unwrap();
    let b = SqliteTable::open(&path, "b").unwrap();
    a.put(item("p", "s", &[("t", s("a"))]), Condition::NotExists)
        .await
        .unwrap();
    b.put(item("p", "s", &[("t", s("b"))]), Condition::NotExists)
        .await
        .unwrap();
    assert_eq!(a.get("p", "s").await.unwrap().unwrap().attrs["t"], s("a"));
    assert_eq!(b.get("p", "s").await.unwrap().unwrap().attrs["t"], s("b"));
    // Reopening sees the data; a memory table's sibling shares its database.
    drop((a, b));
    let again = SqliteTable::open(&path, "a").unwrap();
    assert_eq!(
        again.get("p", "s").await.unwrap().unwrap().attrs["t"],
        s("a")
    );
    let m = SqliteTable::memory();
    let sibling = m.with_table("other").unwrap();
    m.put(item("p", "s", &[]), Condition::None).await.unwrap();
    assert_eq!(sibling.get("p", "s").await.unwrap(), None);
    assert!(SqliteTable::open(&path, "").is_err(), "empty table name");
}

#[tokio::test]
async fn factories_open_local_refs() {
    use ferry_spec::task::{BlobStoreRef, TableRef};
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db").to_string_lossy().into_owned();
    let t = ferry_store::open_table(&TableRef::Sqlite { path: db.clone() })
        .await
        .unwrap();
    t.put(item("p", "s", &[]), Condition::NotExists)
        .await
        .unwrap();
    let direct = SqliteTable::open(&db, ferry_store::open::SQLITE_DEFAULT_TABLE).unwrap();
    assert!(
        direct.get("p", "s").await.unwrap().is_some(),
        "the factory uses the default table"
    );

    let root = dir.path().join("blobs").to_string_lossy().into_owned();
    let b = ferry_store::open_blobs(&BlobStoreRef::Dir { path: root.clone() })
        .await
        .unwrap();
    b.put("k/v", b"1".to_vec()).await.unwrap();
    assert_eq!(std::fs::read(dir.path().join("blobs/k/v")).unwrap(), b"1");
}

// ---- SQLite across processes -----------------------------------------------------------------

const HAMMER_DB: &str = "FERRY_STORE_HAMMER_DB";
/// A folder where child workers announce `ready-<pid>` and wait for `go`, so all start at once.
const HAMMER_SYNC: &str = "FERRY_STORE_HAMMER_SYNC";
const HAMMER_ADDS: usize = 300;
const HAMMER_CHILDREN: usize = 3;

/// `add` 1 to one counter `HAMMER_ADDS` times (8 at a time) and print each result on its own
/// line as `ADD <n>`. In a child process (`FERRY_STORE_HAMMER_DB` set) it works on that file; run
/// directly it works on a fresh file and checks its own results.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_hammer_worker() {
    let tmp = tempfile::tempdir().unwrap();
    let (path, child) = match std::env::var(HAMMER_DB) {
        Ok(p) => (std::path::PathBuf::from(p), true),
        Err(_) => (tmp.path().join("hammer.db"), false),
    };
    let t = SqliteTable::open(&path, "hammer").unwrap();
    if let Ok(sync) = std::env::var(HAMMER_SYNC) {
        let sync = std::path::PathBuf::from(sync);
        std::fs::write(sync.join(format!("ready-{}", std::process::id())), b"").unwrap();
        wait_until(|| sync.join("go").exists()).await;
    }
    let mut values = Vec::new();
    for chunk in (0..HAMMER_ADDS).collect::<Vec<_>>().chunks(8) {
        let adds = chunk.iter().map(|_| t.add("counter", "c", "n", 1));
        for r in join_all(adds).await {
            let v = r.expect("add in hammer worker");
            println!("ADD {v}");
            values.push(v);
        }
        // Interleave other writes and reads too.
        t.add_to_set(
            "set",
            "s",
            "m",
            &[format!("{}-{}", std::process::id(), values.len())],
        )
        .await
        .unwrap();
        t.get("counter", "c").await.unwrap();
    }
    if !child {
        values.sort_unstable();
        assert_eq!(values, (1..=HAMMER_ADDS as i64).collect::<Vec<_>>());
    }
}

/// Poll `done` every millisecond for at most 60 s.
async fn wait_until(done: impl Fn() -> bool) {
    for _ in 0..60_000 {
        if done() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    panic!("timed out waiting for the other hammer processes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_no_lost_update_across_processes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.db");
    let sync = dir.path().join("sync");
    std::fs::create_dir(&sync).unwrap();
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..HAMMER_CHILDREN)
        .map(|_| {
            Command::new(&exe)
                .args([
                    "sqlite_hammer_worker",
                    "--exact",
                    "--nocapture",
                    "--test-threads",
                    "1",
                ])
                .env(HAMMER_DB, &path)
                .env(HAMMER_SYNC, &sync)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawning a hammer worker")
        })
        .collect();
    // This process hammers the same file at the same time, once every worker is ready.
    let t = SqliteTable::open(&path, "hammer").unwrap();
    let ready = || std::fs::read_dir(&sync).map(|d| d.count()).unwrap_or(0) >= HAMMER_CHILDREN;
    wait_until(ready).await;
    std::fs::write(sync.join("go"), b"").unwrap();
    let mut values = Vec::new();
    for _ in 0..HAMMER_ADDS {
        values.push(t.add("counter", "c", "n", 1).await.unwrap());
    }
    for c in children {
        let out = tokio::task::spawn_blocking(move || c.wait_with_output())
            .await
            .unwrap()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "worker failed: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let before = values.len();
        let mut mine: Vec<i64> = stdout
            .lines()
            .filter_map(|l| l.rfind("ADD ").map(|i| l[i + 4..].trim().parse().unwrap()))
            .collect();
        mine.sort_unstable();
        let gaps = mine.windows(2).filter(|w| w[1] != w[0] + 1).count();
        println!(
            "worker: {} adds, interleaved with other processes {gaps} times",
            mine.len()
        );
        // libtest may print its own text before the first line (`test … `): take what follows `ADD `.
        let reported = stdout
            .lines()
            .filter_map(|l| l.rfind("ADD ").map(|i| &l[i + 4..]));
        values.extend(reported.map(|v| v.trim().parse::<i64>().expect("an ADD line")));
        assert_eq!(
            values.len() - before,
            HAMMER_ADDS,
            "a worker reported every add"
        );
    }
    let total = (HAMMER_ADDS * (HAMMER_CHILDREN + 1)) as i64;
    values.sort_unstable();
    assert_eq!(
        values,
        (1..=total).collect::<Vec<_>>(),
        "no lost or duplicated update"
    );
    assert_eq!(
        t.get("counter", "c").await.unwrap().unwrap().attrs["n"],
        Attr::N(total)
    );
    let Attr::Ss(members) = &t.get("set", "s").await.unwrap().unwrap().attrs["m"] else {
        panic!("a set")
    };
    assert_eq!(
        members.len(),
        HAMMER_CHILDREN * HAMMER_ADDS.div_ceil(8),
        "no lost set member"
    );
}

// ---- DynamoDB and S3 on moto -----------------------------------------------------------------

#[cfg(feature = "aws")]
mod aws {
    use super::*;
    use aws_sdk_dynamodb::config::{Credentials, Region};
    use ferry_store::{DynamoTable, S3Blobs};

    /// SDK configuration for the test moto server, with fake credentials.
    async fn sdk_config() -> aws_config::SdkConfig {
        let env = ferry_testkit::aws_test_env();
        let get = |k: &str| env.iter().find(|(n, _)| *n == k).map(|(_, v)| *v).unwrap();
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(Region::new(get("AWS_DEFAULT_REGION")))
            .endpoint_url(ferry_testkit::moto_url())
            .credentials_provider(Credentials::new(
                get("AWS_ACCESS_KEY_ID"),
                get("AWS_SECRET_ACCESS_KEY"),
                None,
                None,
                "ferry-test",
            ))
            .load()
            .await
    }

    async fn s3_client() -> aws_sdk_s3::Client {
        let conf = sdk_config().await;
        aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(&conf)
                .force_path_style(true)
                .build(),
        )
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn dynamodb_conforms() {
        let client = aws_sdk_dynamodb::Client::new(&sdk_config().await);
        let name = unique("ferry-store");
        DynamoTable::create_table_if_missing(&client, &name)
            .await
            .unwrap();
        // Idempotent.
        DynamoTable::create_table_if_missing(&client, &name)
            .await
            .unwrap();
        table_suite(&DynamoTable::new(client, name), Updates::MotoUnlocked).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn dynamodb_sets_are_native() {
        // A number set is a real `NS` (what a Step Functions getItem reads), a counter a real `N`.
        let client = aws_sdk_dynamodb::Client::new(&sdk_config().await);
        let name = unique("ferry-store-native");
        DynamoTable::create_table_if_missing(&client, &name)
            .await
            .unwrap();
        let t = DynamoTable::new(client.clone(), &name);
        t.put(
            item(
                "p",
                "s",
                &[("for_each_cardinality", Attr::Ns(vec!["3".into()]))],
            ),
            Condition::None,
        )
        .await
        .unwrap();
        t.add("p", "s", "count", 2).await.unwrap();
        t.add_to_set("p", "s", "done", &["a".into()]).await.unwrap();
        let raw = client
            .get_item()
            .table_name(&name)
            .key("pk", aws_sdk_dynamodb::types::AttributeValue::S("p".into()))
            .key("sk", aws_sdk_dynamodb::types::AttributeValue::S("s".into()))
            .send()
            .await
            .unwrap()
            .item
            .unwrap();
        use aws_sdk_dynamodb::types::AttributeValue as Av;
        assert_eq!(raw["for_each_cardinality"], Av::Ns(vec!["3".into()]));
        assert_eq!(raw["count"], Av::N("2".into()));
        assert_eq!(raw["done"], Av::Ss(vec!["a".into()]));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn dynamodb_missing_table_is_not_a_condition_failure() {
        let client = aws_sdk_dynamodb::Client::new(&sdk_config().await);
        let t = DynamoTable::new(client, unique("no-such-table"));
        let r = t.put(item("p", "s", &[]), Condition::NotExists).await;
        assert!(matches!(r, Err(TableError::Other(_))), "{r:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn s3_conforms() {
        let client = s3_client().await;
        let bucket = unique("ferry-store");
        S3Blobs::create_bucket_if_missing(&client, &bucket)
            .await
            .unwrap();
        S3Blobs::create_bucket_if_missing(&client, &bucket)
            .await
            .unwrap();
        let prefixed = S3Blobs::new(client.clone(), &bucket, "deploy/x/").unwrap();
        blobs_suite(&prefixed).await;
        assert!(
            prefixed
                .url("k")
                .starts_with(&format!("s3://{bucket}/deploy/x/k"))
        );
        let bare = S3Blobs::new(client.clone(), &bucket, "").unwrap();
        blobs_suite(&bare).await;
        // The prefixed store's objects live under its prefix.
        let listed = bare.list("deploy/x/").await.unwrap();
        assert!(
            !listed.is_empty() && listed.iter().all(|k| k.starts_with("deploy/x/blobs-")),
            "{listed:?}"
        );
        assert!(
            S3Blobs::new(client, &bucket, "../up").is_err(),
            "invalid prefix"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn s3_list_follows_pages() {
        // ListObjectsV2 answers at most 1,000 keys a page.
        let client = s3_client().await;
        let bucket = unique("ferry-store-pages");
        S3Blobs::create_bucket_if_missing(&client, &bucket)
            .await
            .unwrap();
        let b = S3Blobs::new(client, &bucket, "p").unwrap();
        let keys: Vec<String> = (0..1100).map(|i| format!("many/{i:05}")).collect();
        for chunk in keys.chunks(50) {
            for r in join_all(chunk.iter().map(|k| b.put(k, Vec::new()))).await {
                r.unwrap();
            }
        }
        assert_eq!(b.list("many/").await.unwrap(), keys);
    }

    /// `open_table` / `open_blobs` configure their clients from the environment. The test runs
    /// itself again in a child process with the moto endpoint and fake credentials in its
    /// environment (`AWS_ENDPOINT_URL` etc.), and the child opens both adapters from refs.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn factories_open_aws_refs_from_env() {
        use ferry_spec::task::{BlobStoreRef, TableRef};
        const CHILD: &str = "FERRY_STORE_FACTORY_CHILD";
        let Ok(names) = std::env::var(CHILD) else {
            let client = aws_sdk_dynamodb::Client::new(&sdk_config().await);
            let table = unique("ferry-store-factory");
            DynamoTable::create_table_if_missing(&client, &table)
                .await
                .unwrap();
            let bucket = unique("ferry-store-factory");
            S3Blobs::create_bucket_if_missing(&s3_client().await, &bucket)
                .await
                .unwrap();
            let mut cmd = Command::new(std::env::current_exe().unwrap());
            cmd.args([
                "aws::factories_open_aws_refs_from_env",
                "--exact",
                "--test-threads",
                "1",
            ])
            .env(CHILD, format!("{table} {bucket}"))
            .env("AWS_ENDPOINT_URL", ferry_testkit::moto_url())
            .env_remove("FERRY_S3_PATH_STYLE")
            .env_remove("AWS_PROFILE");
            for (k, v) in ferry_testkit::aws_test_env() {
                cmd.env(k, v);
            }
            let out = tokio::task::spawn_blocking(move || cmd.output())
                .await
                .unwrap()
                .unwrap();
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(out.status.success(), "child failed:\n{text}");
            assert!(text.contains("1 passed"), "the child ran the test:\n{text}");
            // What the child wrote is there.
            let t = DynamoTable::new(client, &table);
            assert_eq!(
                t.get("from", "child").await.unwrap().unwrap().attrs["n"],
                Attr::N(1)
            );
            let b = S3Blobs::new(s3_client().await, &bucket, "pre").unwrap();
            assert_eq!(b.get("k").await.unwrap().as_deref(), Some(&b"child"[..]));
            return;
        };
        let (table, bucket) = names.split_once(' ').unwrap();
        let t = ferry_store::open_table(&TableRef::Dynamodb {
            table: table.into(),
        })
        .await
        .unwrap();
        assert_eq!(t.add("from", "child", "n", 1).await.unwrap(), 1);
        let b = ferry_store::open_blobs(&BlobStoreRef::S3 {
            bucket: bucket.into(),
            prefix: "pre".into(),
        })
        .await
        .unwrap();
        b.put("k", b"child".to_vec()).await.unwrap();
        assert_eq!(b.url("k"), format!("s3://{bucket}/pre/k"));
    }
}
