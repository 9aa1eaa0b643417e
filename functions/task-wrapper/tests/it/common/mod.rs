//! Test harness: a blob store directory, a local Metaflow datastore, an SQLite state table and a
//! package cache in a temporary folder; helpers that publish code packages and task descriptions
//! the way deploy does, and run the real `task-wrapper` binary with the environment the executor
//! would set (no executor involved).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use ferry_spec::task::{
    BlobStoreRef, DatastoreSettings, Fanout, MetadataSettings, PackageRef, Retries, StepCommand,
    StepInputs, TableRef, TaskDescription,
};
use sha2::{Digest, Sha256};

/// The wrapper binary under test.
pub fn wrapper_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_task-wrapper"))
}

pub fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// A gzip tar of regular files.
pub fn tgz(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    for (name, body) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(body.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        builder.append_data(&mut h, name, *body).unwrap();
    }
    builder.into_inner().unwrap().finish().unwrap()
}

pub use ferry_testkit::MetadataService;

pub struct Stack {
    pub dir: tempfile::TempDir,
    pub blobs: PathBuf,
    pub datastore: PathBuf,
    pub table: PathBuf,
    pub cache: PathBuf,
    /// `None`: local metadata; `Some(url)`: the metadata service.
    pub metadata_url: Option<String>,
    pub service: Option<MetadataService>,
}

impl Stack {
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("ferry-tw-")
            .tempdir()
            .unwrap();
        let p = dir.path().to_path_buf();
        for d in ["blobs", "datastore", "cache"] {
            std::fs::create_dir_all(p.join(d)).unwrap();
        }
        Stack {
            blobs: p.join("blobs"),
            datastore: p.join("datastore"),
            table: p.join("state.sqlite"),
            cache: p.join("cache"),
            metadata_url: None,
            service: None,
            dir,
        }
    }

    /// A stack whose flows record metadata in a `metadata-api` service (SQLite).
    pub fn with_service() -> Self {
        let mut stack = Stack::new();
        let svc = MetadataService::start(&stack.dir.path().join("metadata.sqlite"));
        stack.metadata_url = Some(svc.url.clone());
        stack.service = Some(svc);
        stack
    }

    /// Store a package (gzip tar bytes) at `code/<sha>.tgz`.
    pub fn put_package(&self, bytes: &[u8]) -> PackageRef {
        let sha = sha256_hex(bytes);
        let key = format!("code/{sha}.tgz");
        std::fs::create_dir_all(self.blobs.join("code")).unwrap();
        std::fs::write(self.blobs.join(&key), bytes).unwrap();
        PackageRef { key, sha256: sha }
    }

    /// A package holding one flow file.
    pub fn flow_package(&self, flow_file: &str, source: &str) -> PackageRef {
        self.put_package(&tgz(&[(flow_file, source.as_bytes())]))
    }

    /// A description for a Metaflow step, with the venv's python. Built from JSON so that
    /// optional fields added to the format later keep their defaults.
    pub fn describe(
        &self,
        flow: &str,
        step: &str,
        flow_file: &str,
        package: &PackageRef,
        inputs: StepInputs,
    ) -> TaskDescription {
        let metadata = match &self.metadata_url {
            None => MetadataSettings {
                kind: "local".into(),
                url: None,
            },
            Some(u) => MetadataSettings {
                kind: "service".into(),
                url: Some(u.clone()),
            },
        };
        let desc = serde_json::json!({
            "version": 1,
            "flow": flow,
            "step": step,
            "flow_file": flow_file,
            "code_package": package,
            "command": StepCommand::Metaflow { python: ferry_testkit::python().to_string_lossy().into_owned() },
            "retries": Retries { max_user_code_retries: 0, total_attempts: 1, minutes_between_retries: 0 },
            "metadata": metadata,
            "datastore": DatastoreSettings { kind: "local".into(), root: self.datastore.to_string_lossy().into_owned() },
            "blobs": BlobStoreRef::Dir { path: self.blobs.to_string_lossy().into_owned() },
            "state_table": TableRef::Sqlite { path: self.table.to_string_lossy().into_owned() },
            "production_token": "testflow-0-abcd",
            "owner": "tester",
            "tags": ["ferry-test"],
            "inputs": inputs,
            "fanout": Fanout::default(),
            "state_ttl_seconds": 3600,
        });
        serde_json::from_value(desc).expect("a valid task description")
    }

    /// Publish a description at `tasks/<sha>.json`; returns its `file://` URL.
    pub fn publish(&self, desc: &TaskDescription) -> String {
        let bytes = serde_json::to_vec(desc).unwrap();
        let sha = sha256_hex(&bytes);
        std::fs::create_dir_all(self.blobs.join("tasks")).unwrap();
        let path = self.blobs.join(format!("tasks/{sha}.json"));
        std::fs::write(&path, bytes).unwrap();
        format!("file://{}", path.display())
    }

    /// The wrapper command for `url` with the executor's variables `vars`.
    pub fn command(&self, url: &str, vars: &[(&str, String)]) -> Command {
        let mut cmd = Command::new(wrapper_bin());
        cmd.args(["run", "--task", url])
            .env("FERRY_CACHE_DIR", &self.cache)
            .env("FERRY_LOG_FLUSH_SECONDS", "0.5")
            .env_remove("FERRY_PARAMETERS")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in vars {
            cmd.env(k, v);
        }
        cmd
    }

    /// Run the wrapper to its end.
    pub fn run(&self, url: &str, vars: &[(&str, String)]) -> Output {
        self.command(url, vars).output().unwrap()
    }

    /// Environment for a client process reading this stack's datastore and metadata.
    pub fn client_env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            (
                "METAFLOW_DATASTORE_SYSROOT_LOCAL".to_string(),
                self.datastore.to_string_lossy().into_owned(),
            ),
            (
                "METAFLOW_DEFAULT_DATASTORE".to_string(),
                "local".to_string(),
            ),
            ("USERNAME".to_string(), "tester".to_string()),
        ];
        match &self.metadata_url {
            None => env.push(("METAFLOW_DEFAULT_METADATA".into(), "local".into())),
            Some(u) => {
                env.push(("METAFLOW_DEFAULT_METADATA".into(), "service".into()));
                env.push(("METAFLOW_SERVICE_URL".into(), u.clone()));
            }
        }
        env
    }

    /// Run a Python script with the real metaflow client; returns its stdout parsed as JSON.
    pub fn client(&self, script: &str, args: &[&str]) -> serde_json::Value {
        self.client_with(&self.client_env(), script, args)
    }

    /// [`Stack::client`] with the client environment `env` (e.g. an S3 datastore on moto).
    pub fn client_with(
        &self,
        env: &[(String, String)],
        script: &str,
        args: &[&str],
    ) -> serde_json::Value {
        let mut cmd = Command::new(ferry_testkit::python());
        cmd.arg("-c")
            .arg(script)
            .args(args)
            .current_dir(self.dir.path())
            .envs(env.iter().map(|(k, v)| (k, v)));
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "client script failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let last = text.lines().last().unwrap_or_default();
        serde_json::from_str(last).unwrap_or_else(|e| panic!("client output {text:?}: {e}"))
    }
}

/// The executor's base variables for a task.
pub fn task_vars(execution: &str, job: &str, attempt: u32) -> Vec<(&'static str, String)> {
    vec![
        ("FERRY_RUN_ID", execution.to_string()),
        ("AWS_BATCH_JOB_ID", job.to_string()),
        ("AWS_BATCH_JOB_ATTEMPT", attempt.to_string()),
    ]
}

/// Panic with the wrapper's output unless it exited with `code`.
pub fn expect_code(out: &Output, code: i32, what: &str) {
    if out.status.code() != Some(code) {
        panic!(
            "{what}: expected exit {code}, got {:?}\n--- stdout\n{}\n--- stderr\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

pub fn write_all(path: &Path, body: &[u8]) {
    let mut f = std::fs::File::create(path).unwrap();
    f.write_all(body).unwrap();
}

/// boto3 against moto: `op` with JSON `args`, prints a JSON result.
const BOTO: &str = r#"
import sys, json, boto3
url, op, args = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
s3 = boto3.client("s3", endpoint_url=url)
ddb = boto3.client("dynamodb", endpoint_url=url)
out = None
if op == "setup":
    s3.create_bucket(Bucket=args["bucket"])
    ddb.create_table(TableName=args["table"], BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}])
elif op == "put":
    s3.put_object(Bucket=args["bucket"], Key=args["key"], Body=open(args["file"], "rb").read())
elif op == "get":
    out = s3.get_object(Bucket=args["bucket"], Key=args["key"])["Body"].read().decode()
elif op == "item":
    out = ddb.get_item(TableName=args["table"], Key={"pk": {"S": args["pk"]}, "sk": {"S": args.get("sk", "foreach")}}, ConsistentRead=True).get("Item")
print(json.dumps(out))
"#;

/// A moto server (`ferry_testkit::moto_url`) driven through boto3.
pub struct Moto {
    pub url: String,
}

impl Moto {
    /// The moto server of this test run.
    pub fn new() -> Self {
        Moto {
            url: ferry_testkit::moto_url(),
        }
    }

    /// Run boto3 operation `op` with `args`: `setup` {bucket, table}, `put` {bucket, key, file},
    /// `get` {bucket, key}, `item` {table, pk, sk (default `foreach`)}; its JSON result.
    pub fn call(&self, op: &str, args: serde_json::Value) -> serde_json::Value {
        let out = Command::new(ferry_testkit::python())
            .args(["-c", BOTO, &self.url, op, &args.to_string()])
            .envs(ferry_testkit::aws_test_env())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "boto3 {op}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }
}
