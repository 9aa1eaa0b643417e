//! [`SqliteTable`]: the [`Table`] port over one SQLite file (the embedded default).
//!
//! Layout: one SQL table shared by every logical table in the file,
//! `items(tbl TEXT, pk TEXT, sk TEXT, attrs TEXT, PRIMARY KEY (tbl, pk, sk)) WITHOUT ROWID`,
//! where `attrs` is a JSON object in DynamoDB's typed form (`{"n":{"N":"3"},"s":{"S":"x"}}`,
//! numbers as JSON integers). Sort keys compare as UTF-8 bytes, like DynamoDB's.
//!
//! Concurrency: the file is in WAL mode, so readers never wait for writers. Every write runs in a
//! `BEGIN IMMEDIATE` transaction (read, check the condition, write, commit), which makes
//! conditions, `add` and transactions atomic across threads *and* processes. Writers of one
//! process first queue (FIFO) on an async lock per file, holding no connection or thread while
//! they wait, instead of polling SQLite's lock; writers of other processes are waited for by a
//! busy handler (short sleeps, about 40 s in all, then [`TableError::Transient`]).
//!
//! Async methods never block the runtime: each call runs on `tokio::task::spawn_blocking` with a
//! connection from a small per-file pool (at most [`MAX_CONNECTIONS`] in use at once).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde_json::{Map, Value};
use tokio::sync::Semaphore;

use crate::table::{Attr, Condition, Item, Page, Query, Table, TableError, WriteOp};
use crate::validate;

/// Connections of one file used at once by this process (further calls wait their turn).
pub const MAX_CONNECTIONS: usize = 8;

/// How many times the busy handler sleeps before giving up (about 40 s in all).
const BUSY_RETRIES: i32 = 4000;

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS items (
    tbl   TEXT NOT NULL,
    pk    TEXT NOT NULL,
    sk    TEXT NOT NULL,
    attrs TEXT NOT NULL,
    PRIMARY KEY (tbl, pk, sk)
) WITHOUT ROWID;";

/// A logical table in an SQLite file. Cheap to clone; clones share the connection pool, and so do
/// all tables opened on the same file in one process.
#[derive(Clone)]
pub struct SqliteTable {
    pool: Arc<Pool>,
    table: Arc<str>,
}

impl std::fmt::Debug for SqliteTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteTable")
            .field("file", &self.pool.path)
            .field("table", &self.table)
            .finish()
    }
}

/// Where the connections go.
struct Pool {
    /// The database file (canonical path), `None` for a private in-memory database.
    path: Option<PathBuf>,
    /// Idle connections.
    idle: Mutex<Vec<Connection>>,
    /// One permit per connection in use.
    permits: Arc<Semaphore>,
    /// Serialises this process's writers to the file (FIFO; waiting writers hold no connection
    /// and no thread).
    write_lock: Arc<tokio::sync::Mutex<()>>,
}

/// Pools by canonical file path, so that every table on one file in a process shares one pool
/// (and one writer queue).
fn pools() -> &'static Mutex<HashMap<PathBuf, Weak<Pool>>> {
    static POOLS: OnceLock<Mutex<HashMap<PathBuf, Weak<Pool>>>> = OnceLock::new();
    POOLS.get_or_init(Default::default)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn sql_err(e: rusqlite::Error) -> TableError {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
            TableError::Transient(format!("sqlite: {e}"))
        }
        _ => TableError::Other(format!("sqlite: {e}")),
    }
}

/// Sleep a little and retry while another process holds the write lock.
fn busy_handler(count: i32) -> bool {
    let ms = (1 + count / 20).min(10) as u64;
    std::thread::sleep(Duration::from_millis(ms));
    count < BUSY_RETRIES
}

fn open_connection(path: Option<&Path>) -> Result<Connection, TableError> {
    let Some(path) = path else {
        // The single connection of an in-memory database was lost (its worker panicked).
        return Err(TableError::Other(
            "sqlite: the in-memory database is gone".into(),
        ));
    };
    let conn = Connection::open(path).map_err(sql_err)?;
    conn.busy_handler(Some(busy_handler)).map_err(sql_err)?;
    // WAL: readers never block on the writer. NORMAL sync is safe (consistent) in WAL mode.
    let mode: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .map_err(sql_err)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(TableError::Other(format!(
            "sqlite: cannot switch to WAL (journal mode {mode})"
        )));
    }
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(sql_err)?;
    Ok(conn)
}

impl Pool {
    fn new(path: Option<PathBuf>, first: Connection, max: usize) -> Self {
        Pool {
            path,
            idle: Mutex::new(vec![first]),
            permits: Arc::new(Semaphore::new(max)),
            write_lock: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// Run `f` with a connection, on the blocking thread pool.
    async fn with_conn<T, F>(self: &Arc<Self>, f: F) -> Result<T, TableError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, TableError> + Send + 'static,
    {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| TableError::Other("sqlite pool closed".into()))?;
        let pool = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let taken = lock(&pool.idle).pop();
            let mut conn = match taken {
                Some(c) => c,
                None => open_connection(pool.path.as_deref())?,
            };
            let out = f(&mut conn);
            // A connection left inside a transaction (a failed rollback) is not reused.
            if conn.is_autocommit() {
                lock(&pool.idle).push(conn);
            }
            out
        })
        .await
        .map_err(|e| TableError::Other(format!("sqlite worker failed: {e}")))?
    }

    /// Run `f` inside a `BEGIN IMMEDIATE` transaction (this process's writers queue first);
    /// commit when it returns `Ok`, roll back otherwise.
    async fn write<T, F>(self: &Arc<Self>, f: F) -> Result<T, TableError>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Transaction<'_>) -> Result<T, TableError> + Send + 'static,
    {
        let writer = Arc::clone(&self.write_lock).lock_owned().await;
        self.with_conn(move |conn| {
            let _writer = writer;
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(sql_err)?;
            let out = f(&tx)?;
            tx.commit().map_err(sql_err)?;
            Ok(out)
        })
        .await
    }
}

impl SqliteTable {
    /// Open (creating if needed) the logical table `table` in the SQLite file at `path`; the file,
    /// its parent folders and its schema are created when missing, and the file is switched to
    /// WAL mode.
    ///
    /// Blocking: this opens the file and may wait for another process's write lock, so call it
    /// at start-up or inside `spawn_blocking`.
    ///
    /// Errors: [`TableError::Invalid`] for an empty table name, [`TableError::Other`] when the
    /// file cannot be opened or created.
    pub fn open(path: impl AsRef<Path>, table: &str) -> Result<Self, TableError> {
        check_table_name(table)?;
        let path = path.as_ref();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| {
                TableError::Other(format!("sqlite: creating {}: {e}", parent.display()))
            })?;
        }
        let first = open_connection(Some(path))?;
        first.execute_batch(SCHEMA).map_err(sql_err)?;
        let canonical = std::fs::canonicalize(path)
            .map_err(|e| TableError::Other(format!("sqlite: {}: {e}", path.display())))?;
        let mut pools = lock(pools());
        pools.retain(|_, w| w.strong_count() > 0);
        let pool = match pools.get(&canonical).and_then(Weak::upgrade) {
            Some(p) => p,
            None => {
                let p = Arc::new(Pool::new(Some(canonical.clone()), first, MAX_CONNECTIONS));
                pools.insert(canonical, Arc::downgrade(&p));
                p
            }
        };
        Ok(SqliteTable {
            pool,
            table: table.into(),
        })
    }

    /// A table in a private in-memory database (for tests): one connection, gone when the last
    /// clone is dropped. Use [`SqliteTable::with_table`] for more logical tables in it.
    pub fn memory() -> Self {
        let conn = Connection::open_in_memory().expect("opening an in-memory SQLite database");
        conn.execute_batch(SCHEMA)
            .expect("creating the schema in memory");
        SqliteTable {
            pool: Arc::new(Pool::new(None, conn, 1)),
            table: "default".into(),
        }
    }

    /// Another logical table in the same database, sharing this one's connections.
    ///
    /// Errors: [`TableError::Invalid`] for an empty or over-long name.
    pub fn with_table(&self, table: &str) -> Result<Self, TableError> {
        check_table_name(table)?;
        Ok(SqliteTable {
            pool: Arc::clone(&self.pool),
            table: table.into(),
        })
    }

    /// The logical table's name.
    pub fn table_name(&self) -> &str {
        &self.table
    }

    /// The database file (canonical path), `None` for an in-memory table.
    pub fn path(&self) -> Option<&Path> {
        self.pool.path.as_deref()
    }
}

fn check_table_name(name: &str) -> Result<(), TableError> {
    if name.is_empty() || name.len() > 255 {
        return Err(TableError::Invalid(format!(
            "table name {name:?} must be 1 to 255 bytes"
        )));
    }
    Ok(())
}

// ---- attribute encoding ----------------------------------------------------------------------

fn encode(attrs: &BTreeMap<String, Attr>) -> String {
    let strings = |v: &[String]| Value::Array(v.iter().cloned().map(Value::String).collect());
    let mut map = Map::new();
    for (name, attr) in attrs {
        let (tag, v) = match attr {
            Attr::S(s) => ("S", Value::String(s.clone())),
            Attr::N(n) => ("N", Value::from(*n)),
            Attr::Ss(v) => ("SS", strings(v)),
            Attr::Ns(v) => ("NS", strings(v)),
            Attr::Bool(b) => ("BOOL", Value::Bool(*b)),
        };
        let mut typed = Map::new();
        typed.insert(tag.to_string(), v);
        map.insert(name.clone(), Value::Object(typed));
    }
    Value::Object(map).to_string()
}

fn decode(text: &str) -> Result<BTreeMap<String, Attr>, TableError> {
    decode_only(text, None)
}

/// One stored attribute in its typed form (`{"S": "x"}`, `{"N": 3}`, ...).
#[derive(serde::Deserialize)]
enum Typed {
    S(String),
    N(i64),
    #[serde(rename = "SS")]
    Ss(Vec<String>),
    #[serde(rename = "NS")]
    Ns(Vec<String>),
    #[serde(rename = "BOOL")]
    Bool(bool),
}

impl From<Typed> for Attr {
    fn from(t: Typed) -> Self {
        match t {
            Typed::S(s) => Attr::S(s),
            Typed::N(n) => Attr::N(n),
            Typed::Ss(v) => Attr::Ss(v),
            Typed::Ns(v) => Attr::Ns(v),
            Typed::Bool(b) => Attr::Bool(b),
        }
    }
}

/// Reads the attributes object, keeping the attributes `only` names (all of them for `None`)
/// and skipping the others unparsed into values.
struct AttrsVisitor<'a> {
    only: Option<&'a [String]>,
}

impl<'de> serde::de::Visitor<'de> for AttrsVisitor<'_> {
    type Value = BTreeMap<String, Attr>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an object of typed attributes")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = BTreeMap::new();
        while let Some(name) = map.next_key::<String>()? {
            if self.only.is_none_or(|o| o.contains(&name)) {
                let v: Typed = map.next_value()?;
                out.insert(name, v.into());
            } else {
                map.next_value::<serde::de::IgnoredAny>()?;
            }
        }
        Ok(out)
    }
}

/// Decode the attributes JSON text, only the attributes `only` names when given.
fn decode_only(text: &str, only: Option<&[String]>) -> Result<BTreeMap<String, Attr>, TableError> {
    use serde::Deserializer as _;
    let mut de = serde_json::Deserializer::from_str(text);
    let attrs = de
        .deserialize_map(AttrsVisitor { only })
        .and_then(|a| de.end().map(|()| a))
        .map_err(|e| TableError::Other(format!("sqlite: corrupt attributes ({e})")))?;
    Ok(attrs)
}

// ---- statements on one connection ------------------------------------------------------------

fn read(
    conn: &Connection,
    tbl: &str,
    pk: &str,
    sk: &str,
) -> Result<Option<BTreeMap<String, Attr>>, TableError> {
    let text: Option<String> = conn
        .prepare_cached("SELECT attrs FROM items WHERE tbl = ?1 AND pk = ?2 AND sk = ?3")
        .and_then(|mut s| s.query_row(params![tbl, pk, sk], |r| r.get(0)).optional())
        .map_err(sql_err)?;
    text.as_deref().map(decode).transpose()
}

fn write(
    conn: &Connection,
    tbl: &str,
    pk: &str,
    sk: &str,
    attrs: &BTreeMap<String, Attr>,
) -> Result<(), TableError> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO items (tbl, pk, sk, attrs) VALUES (?1, ?2, ?3, ?4)",
    )
    .and_then(|mut s| s.execute(params![tbl, pk, sk, encode(attrs)]))
    .map_err(sql_err)?;
    Ok(())
}

fn remove(conn: &Connection, tbl: &str, pk: &str, sk: &str) -> Result<(), TableError> {
    conn.prepare_cached("DELETE FROM items WHERE tbl = ?1 AND pk = ?2 AND sk = ?3")
        .and_then(|mut s| s.execute(params![tbl, pk, sk]))
        .map_err(sql_err)?;
    Ok(())
}

fn failed(index: Option<usize>) -> TableError {
    TableError::ConditionFailed { index }
}

// ---- the port --------------------------------------------------------------------------------

#[async_trait]
impl Table for SqliteTable {
    async fn get(&self, pk: &str, sk: &str) -> Result<Option<Item>, TableError> {
        validate::keys(pk, sk)?;
        let (tbl, pk, sk) = (self.table.clone(), pk.to_string(), sk.to_string());
        self.pool
            .with_conn(move |conn| {
                Ok(read(conn, &tbl, &pk, &sk)?.map(|attrs| Item { pk, sk, attrs }))
            })
            .await
    }

    async fn put(&self, item: Item, condition: Condition) -> Result<(), TableError> {
        validate::keys(&item.pk, &item.sk)?;
        let attrs = validate::attrs(item.attrs)?;
        let condition = validate::condition(condition)?;
        let (tbl, pk, sk) = (self.table.clone(), item.pk, item.sk);
        self.pool
            .write(move |tx| {
                if condition != Condition::None {
                    let current = read(tx, &tbl, &pk, &sk)?;
                    if !validate::holds(&condition, current.as_ref()) {
                        return Err(failed(None));
                    }
                }
                write(tx, &tbl, &pk, &sk, &attrs)
            })
            .await
    }

    async fn delete(&self, pk: &str, sk: &str, condition: Condition) -> Result<(), TableError> {
        validate::keys(pk, sk)?;
        let condition = validate::condition(condition)?;
        let (tbl, pk, sk) = (self.table.clone(), pk.to_string(), sk.to_string());
        self.pool
            .write(move |tx| {
                if condition != Condition::None {
                    let current = read(tx, &tbl, &pk, &sk)?;
                    if !validate::holds(&condition, current.as_ref()) {
                        return Err(failed(None));
                    }
                }
                remove(tx, &tbl, &pk, &sk)
            })
            .await
    }

    async fn add(&self, pk: &str, sk: &str, attr: &str, delta: i64) -> Result<i64, TableError> {
        validate::keys(pk, sk)?;
        validate::attr_name(attr)?;
        let (tbl, pk, sk, attr) = (
            self.table.clone(),
            pk.to_string(),
            sk.to_string(),
            attr.to_string(),
        );
        self.pool
            .write(move |tx| {
                let mut attrs = read(tx, &tbl, &pk, &sk)?.unwrap_or_default();
                let old = match attrs.get(&attr) {
                    None => 0,
                    Some(Attr::N(n)) => *n,
                    Some(_) => {
                        return Err(TableError::Invalid(format!(
                            "attribute {attr:?} is not a number"
                        )));
                    }
                };
                let new = old.checked_add(delta).ok_or_else(|| {
                    TableError::Invalid(format!("attribute {attr:?} would overflow"))
                })?;
                attrs.insert(attr, Attr::N(new));
                write(tx, &tbl, &pk, &sk, &attrs)?;
                Ok(new)
            })
            .await
    }

    async fn add_to_set(
        &self,
        pk: &str,
        sk: &str,
        attr: &str,
        values: &[String],
    ) -> Result<(), TableError> {
        validate::keys(pk, sk)?;
        validate::attr_name(attr)?;
        if values.is_empty() {
            return Ok(());
        }
        let (tbl, pk, sk, attr) = (
            self.table.clone(),
            pk.to_string(),
            sk.to_string(),
            attr.to_string(),
        );
        let values = values.to_vec();
        self.pool
            .write(move |tx| {
                let mut attrs = read(tx, &tbl, &pk, &sk)?.unwrap_or_default();
                let mut members = match attrs.remove(&attr) {
                    None => Vec::new(),
                    Some(Attr::Ss(v)) => v,
                    Some(_) => {
                        return Err(TableError::Invalid(format!(
                            "attribute {attr:?} is not a string set"
                        )));
                    }
                };
                members.extend(values);
                if let Some(set) = validate::value(Attr::Ss(members))? {
                    attrs.insert(attr, set);
                }
                write(tx, &tbl, &pk, &sk, &attrs)
            })
            .await
    }

    async fn set(
        &self,
        pk: &str,
        sk: &str,
        attrs: BTreeMap<String, Attr>,
        condition: Condition,
    ) -> Result<(), TableError> {
        validate::keys(pk, sk)?;
        let changes = validate::set_attrs(attrs)?;
        let condition = validate::condition(condition)?;
        let (tbl, pk, sk) = (self.table.clone(), pk.to_string(), sk.to_string());
        self.pool
            .write(move |tx| {
                let current = read(tx, &tbl, &pk, &sk)?;
                if !validate::holds(&condition, current.as_ref()) {
                    return Err(failed(None));
                }
                let mut attrs = current.unwrap_or_default();
                for (name, v) in changes {
                    match v {
                        Some(v) => attrs.insert(name, v),
                        None => attrs.remove(&name),
                    };
                }
                write(tx, &tbl, &pk, &sk, &attrs)
            })
            .await
    }

    async fn query(&self, pk: &str, query: Query) -> Result<Page, TableError> {
        if pk.is_empty() || pk.len() > validate::MAX_PK_BYTES {
            return Err(TableError::Invalid("pk must be 1 to 2,048 bytes".into()));
        }
        let limit = validate::limit(query.limit)?;
        validate::projection(query.attributes.as_deref())?;
        let (tbl, pk) = (self.table.clone(), pk.to_string());
        self.pool
            .with_conn(move |conn| {
                let order = if query.descending { "DESC" } else { "ASC" };
                let mut sql = String::from(
                    "SELECT sk, attrs FROM items
                     WHERE tbl = ?1 AND pk = ?2 AND sk >= ?3 AND substr(sk, 1, ?4) = ?3",
                );
                let mut args: Vec<Box<dyn rusqlite::ToSql>> = vec![
                    Box::new(tbl),
                    Box::new(pk.clone()),
                    Box::new(query.sk_prefix.clone()),
                    Box::new(query.sk_prefix.chars().count() as i64),
                ];
                if let Some(after) = query.after {
                    sql.push_str(if query.descending {
                        " AND sk < ?5"
                    } else {
                        " AND sk > ?5"
                    });
                    args.push(Box::new(after));
                }
                // One extra row tells whether there is a next page.
                sql.push_str(&format!(" ORDER BY sk {order}"));
                if let Some(l) = limit {
                    sql.push_str(&format!(
                        " LIMIT {}",
                        l.saturating_add(1).min(i64::MAX as usize)
                    ));
                }
                let mut stmt = conn.prepare_cached(&sql).map_err(sql_err)?;
                let rows = stmt
                    .query_map(rusqlite::params_from_iter(args.iter()), |r| {
                        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                    })
                    .map_err(sql_err)?;
                let mut items = Vec::new();
                for row in rows {
                    let (sk, text) = row.map_err(sql_err)?;
                    items.push(Item {
                        pk: pk.clone(),
                        sk,
                        attrs: decode_only(&text, query.attributes.as_deref())?,
                    });
                }
                let next = match limit {
                    Some(l) if items.len() > l => {
                        items.truncate(l);
                        items.last().map(|i| i.sk.clone())
                    }
                    _ => None,
                };
                Ok(Page { items, next })
            })
            .await
    }

    async fn transact(&self, ops: Vec<WriteOp>) -> Result<(), TableError> {
        let ops = validate::transact(ops)?;
        if ops.is_empty() {
            return Ok(());
        }
        let tbl = self.table.clone();
        self.pool
            .write(move |tx| {
                for (i, op) in ops.iter().enumerate() {
                    let (pk, sk, condition) = match op {
                        WriteOp::Put { item, condition } => (&item.pk, &item.sk, condition),
                        WriteOp::Check { pk, sk, condition } => (pk, sk, condition),
                        WriteOp::Delete { .. } => continue,
                    };
                    if *condition != Condition::None {
                        let current = read(tx, &tbl, pk, sk)?;
                        if !validate::holds(condition, current.as_ref()) {
                            return Err(failed(Some(i)));
                        }
                    }
                }
                for op in &ops {
                    match op {
                        WriteOp::Put { item, .. } => {
                            write(tx, &tbl, &item.pk, &item.sk, &item.attrs)?
                        }
                        WriteOp::Delete { pk, sk } => remove(tx, &tbl, pk, sk)?,
                        WriteOp::Check { .. } => {}
                    }
                }
                Ok(())
            })
            .await
    }
}
