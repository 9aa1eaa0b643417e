//! Deploy side, end to end: resolve every distinct environment of a flow once per platform,
//! store its wheels (content-addressed, uploaded only when absent) and its lock, and return
//! what each step's task description references.

use std::collections::BTreeMap;
use std::path::Path;

use ferry_spec::FlowSpec;
use ferry_spec::task::{PackageRef, PythonEnvRef};
use ferry_store::Blobs;

use crate::error::PyenvError;
use crate::lock::{LOCK_VERSION, Lock, LockedWheel, PLATFORMS, lock_key, wheel_key};
use crate::request::{EnvRequest, StepEnv, flow_kind, step_environments};
use crate::resolve::Resolver;

/// The outcome of [`publish_flow_envs`].
#[derive(Debug, Clone, Default)]
pub struct Published {
    /// Step name → its environment reference (empty when the flow declares none).
    pub steps: BTreeMap<String, PythonEnvRef>,
    /// Lock blob key → the lock.
    pub locks: BTreeMap<String, Lock>,
}

/// Resolve, upload and reference every environment of `spec`. Nothing is referenced before
/// every environment resolved: an unresolvable one fails the whole deploy. `work` is a scratch
/// directory. `default_python` is used when no decorator names a Python (`None`: the
/// resolver's Python version).
pub async fn publish_flow_envs(
    spec: &FlowSpec,
    blobs: &dyn Blobs,
    resolver: &Resolver,
    work: &Path,
    default_python: Option<&str>,
) -> Result<Published, PyenvError> {
    let Some(kind) = flow_kind(spec) else {
        return Ok(Published::default());
    };
    let default_python = match default_python {
        Some(p) => p.to_string(),
        None => resolver.python_version().await?,
    };
    let envs = step_environments(spec, &default_python);
    let mut distinct: BTreeMap<String, EnvRequest> = BTreeMap::new();
    for env in envs.values() {
        if let StepEnv::Env(e) = env {
            distinct.insert(e.id(), e.clone());
        }
    }
    let mut by_id: BTreeMap<String, (PackageRef, Lock)> = BTreeMap::new();
    for (id, env) in &distinct {
        let lock = resolve_lock(env, resolver, &work.join(id), blobs).await?;
        let bytes = lock.to_bytes();
        let sha = crate::sha256_hex(&bytes);
        let key = lock_key(&sha);
        if !blobs.exists(&key).await? {
            blobs.put(&key, bytes).await?;
        }
        by_id.insert(id.clone(), (PackageRef { key, sha256: sha }, lock));
    }
    let mut out = Published::default();
    for (step, env) in envs {
        let lock = match env {
            StepEnv::Disabled => None,
            StepEnv::Env(e) => {
                let (r, lock) = &by_id[&e.id()];
                out.locks.insert(r.key.clone(), lock.clone());
                Some(r.clone())
            }
        };
        out.steps.insert(step, PythonEnvRef { kind, lock });
    }
    Ok(out)
}

/// Resolve one environment for every platform and upload its wheels.
async fn resolve_lock(
    env: &EnvRequest,
    resolver: &Resolver,
    work: &Path,
    blobs: &dyn Blobs,
) -> Result<Lock, PyenvError> {
    let mut platforms = BTreeMap::new();
    for platform in PLATFORMS {
        let wheels = resolver
            .resolve(env, platform, &work.join(platform))
            .await?;
        let mut locked = Vec::with_capacity(wheels.len());
        for w in wheels {
            let key = wheel_key(&w.sha256, &w.filename);
            if !blobs.exists(&key).await? {
                let bytes = std::fs::read(&w.path)
                    .map_err(|e| PyenvError::io(format!("reading {}", w.path.display()), e))?;
                blobs.put(&key, bytes).await?;
            }
            locked.push(LockedWheel {
                name: w.name,
                version: w.version,
                filename: w.filename,
                sha256: w.sha256,
                key,
            });
        }
        platforms.insert(platform.to_string(), locked);
    }
    Ok(Lock {
        version: LOCK_VERSION,
        kind: env.kind,
        python: env.python_minor(),
        requirements: env.packages.clone(),
        platforms,
    })
}

impl Published {
    /// One line per step environment for the deployer (`ferry deploy` prints them on stderr):
    /// `Environment of step S: a==1, b==2 (python 3.11, lock envs/locks/<sha>.json)`.
    pub fn summary(&self) -> Vec<String> {
        self.steps
            .iter()
            .map(|(step, env)| match &env.lock {
                None => format!(
                    "Environment of step {step}: disabled (the image's Python, --environment={})",
                    env.kind.as_str()
                ),
                Some(r) => {
                    let lock = &self.locks[&r.key];
                    let pkgs: Vec<String> = lock
                        .platforms
                        .get(crate::lock::PLATFORM_X86_64)
                        .into_iter()
                        .flatten()
                        .map(|w| format!("{}=={}", w.name, w.version))
                        .collect();
                    format!(
                        "Environment of step {step}: {} (python {}, lock {})",
                        if pkgs.is_empty() {
                            "no packages".to_string()
                        } else {
                            pkgs.join(", ")
                        },
                        lock.python,
                        r.key
                    )
                }
            })
            .collect()
    }
}
