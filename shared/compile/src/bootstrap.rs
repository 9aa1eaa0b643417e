//! The task-wrapper bootstrap: a [`CompileOptions::wrapper_command`](crate::CompileOptions)
//! variant for images that have `python3` (3.8 or later) with `pip`, or with `boto3` and
//! `requests`, but not the wrapper binary (nor Metaflow: `ferry deploy` ships the deployer's
//! `metaflow` in the code package, see `docs/runtime-contract.md`).
//!
//! The Batch job runs `python3 -c <BOOTSTRAP_SCRIPT> <bucket> <key prefix> <arch>=<sha256>… --
//! run --task <url>`: the script picks the binary for the machine's architecture
//! (`<key prefix><arch>`, arch `x86_64` or `arm64`). When `boto3` or `requests` (what Metaflow
//! itself needs at run time) is not importable, it installs the missing ones with
//! `<python> -m pip install --target <fresh temporary directory>` (no shell; pip's own
//! `PIP_INDEX_URL`/`PIP_FIND_LINKS`… settings apply), puts that directory on its own `sys.path`
//! and hands it to the wrapper as `FERRY_BOOTSTRAP_SITE` ([`ferry_spec::task::ENV_BOOTSTRAP_SITE`]),
//! which puts it on the step's `PYTHONPATH`. Then it downloads the binary from the stack's
//! bucket with boto3, refuses it unless its SHA-256 matches the one given for that
//! architecture, writes it to a private temporary file and `exec`s it with everything after
//! `--`. The script is a fixed constant: every value reaches it as an argument, none is
//! interpolated into code, and no shell is involved.
//!
//! Failures exit non-zero with one `ferry bootstrap: …` line: no binary for the architecture,
//! a hash mismatch, missing packages and no `pip`, a failed `pip install`.

use crate::output::CompileError;

/// The bootstrap program (Python 3.8+, needs boto3 and requests or pip). Arguments: `bucket`,
/// `key prefix`, then `arch=sha256` pairs, then `--` and the wrapper's own arguments. Exits
/// non-zero with a `ferry bootstrap:` line when no binary exists for the architecture, the hash
/// differs, or the missing packages cannot be installed. Kept short: it travels in every
/// task's container overrides (8,192 characters with the environment, see [`crate::limits`]).
pub const BOOTSTRAP_SCRIPT: &str = "\
import hashlib,importlib.util as u,os,platform,subprocess,sys,tempfile
a=sys.argv;i=a.index('--');b,p=a[1],a[2];h=dict(x.split('=',1) for x in a[3:i])
m=platform.machine().lower();m={'amd64':'x86_64','aarch64':'arm64'}.get(m,m)
if m not in h:sys.exit('ferry bootstrap: no task wrapper for architecture '+m)
n=[x for x in('boto3','requests')if u.find_spec(x)is None]
if n:
 e='ferry bootstrap: '+sys.executable+' lacks '+' '.join(n)
 if u.find_spec('pip')is None:sys.exit(e+' and pip to install them')
 t=tempfile.mkdtemp(prefix='ferry-site-')
 if subprocess.call([sys.executable,'-m','pip','install','-qq','--disable-pip-version-check','--no-cache-dir','--target',t]+n,stdout=2):sys.exit(e+'; pip could not install them (index unreachable? PIP_INDEX_URL)')
 sys.path.insert(0,t);os.environ['FERRY_BOOTSTRAP_SITE']=t
import boto3
d=boto3.client('s3').get_object(Bucket=b,Key=p+m)['Body'].read()
if hashlib.sha256(d).hexdigest()!=h[m]:sys.exit('ferry bootstrap: SHA-256 mismatch for s3://'+b+'/'+p+m+', refusing to run it')
fd,f=tempfile.mkstemp(prefix='ferry-task-wrapper-');os.write(fd,d);os.close(fd);os.chmod(f,0o700)
os.execv(f,[f]+a[i+1:])
";

/// Architectures the bootstrap knows (`platform.machine()` normalised).
pub const ARCHITECTURES: [&str; 2] = ["x86_64", "arm64"];

/// The wrapper command that bootstraps the wrapper from `s3://<bucket>/<key_prefix><arch>`:
/// `[python, "-c", BOOTSTRAP_SCRIPT, bucket, key_prefix, "<arch>=<sha256>"…, "--"]` (the compiler
/// appends `run --task <url>`). `hashes`: (architecture from [`ARCHITECTURES`], lowercase hex
/// SHA-256), at least one.
///
/// Errors ([`CompileError::Option`] on `wrapper_command`): an empty python, a bucket that is not
/// an S3 bucket name, a key prefix with characters outside `[A-Za-z0-9/._-]`, an unknown
/// architecture or a hash that is not 64 lowercase hex digits.
pub fn bootstrap_command(
    python: &str,
    bucket: &str,
    key_prefix: &str,
    hashes: &[(&str, &str)],
) -> Result<Vec<String>, CompileError> {
    let bad = |why: String| CompileError::Option {
        option: "wrapper_command",
        why,
    };
    if python.is_empty() {
        return Err(bad("the bootstrap needs a python interpreter".into()));
    }
    let bucket_ok = (3..=63).contains(&bucket.len())
        && bucket
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '.'));
    if !bucket_ok {
        return Err(bad(format!("{bucket:?} is not an S3 bucket name")));
    }
    let prefix_ok = !key_prefix.is_empty()
        && key_prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-'));
    if !prefix_ok {
        return Err(bad(format!(
            "the wrapper key prefix {key_prefix:?} must be letters, digits, '/', '.', '_' or '-'"
        )));
    }
    if hashes.is_empty() {
        return Err(bad(
            "the bootstrap needs the SHA-256 of at least one wrapper binary".into(),
        ));
    }
    let mut cmd = vec![
        python.to_string(),
        "-c".to_string(),
        BOOTSTRAP_SCRIPT.to_string(),
        bucket.to_string(),
        key_prefix.to_string(),
    ];
    for (arch, sha) in hashes {
        if !ARCHITECTURES.contains(arch) {
            return Err(bad(format!("unknown wrapper architecture {arch:?}")));
        }
        if sha.len() != 64
            || !sha
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
        {
            return Err(bad(format!(
                "the wrapper SHA-256 for {arch} must be 64 lowercase hex digits"
            )));
        }
        cmd.push(format!("{arch}={sha}"));
    }
    cmd.push("--".to_string());
    Ok(cmd)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn values_are_arguments_never_code() {
        let cmd = bootstrap_command(
            "python3",
            "ferry-abc",
            "ferry/bin/task-wrapper-",
            &[("x86_64", SHA)],
        )
        .unwrap();
        assert_eq!(cmd[2], BOOTSTRAP_SCRIPT);
        assert!(!BOOTSTRAP_SCRIPT.contains("ferry-abc"));
        // The variable the wrapper reads is the one the script sets.
        assert!(BOOTSTRAP_SCRIPT.contains(&format!(
            "os.environ['{}']",
            ferry_spec::task::ENV_BOOTSTRAP_SITE
        )));
        assert_eq!(
            cmd[3..],
            [
                "ferry-abc",
                "ferry/bin/task-wrapper-",
                &format!("x86_64={SHA}"),
                "--"
            ]
        );
    }

    #[test]
    fn refuses_bad_values() {
        for (b, p, arch, sha) in [
            ("Bad_Bucket", "ferry/bin/x-", "x86_64", SHA),
            ("ferry-abc", "ferry/bin/x-;rm", "x86_64", SHA),
            ("ferry-abc", "ferry/bin/x-", "sparc", SHA),
            ("ferry-abc", "ferry/bin/x-", "arm64", "ABC"),
        ] {
            assert!(
                bootstrap_command("python3", b, p, &[(arch, sha)]).is_err(),
                "{b} {p} {arch} {sha}"
            );
        }
        assert!(bootstrap_command("python3", "ferry-abc", "ferry/bin/x-", &[]).is_err());
    }
}
