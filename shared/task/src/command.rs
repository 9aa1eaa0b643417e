//! The step's command lines and environment, built without a shell.
//!
//! For a Metaflow step: `<python> <flow_file> <top options> init …` (for `start`, once per run) and
//! `<python> <flow_file> <top options> step <step> …`, with the top-level options and environment
//! Metaflow's own Step Functions tasks have (`--metadata`, `--datastore`, `--datastore-root`,
//! `--environment=local`, `--no-pylint`, `--quiet`, `@project`'s `--branch`/`--production`;
//! `METAFLOW_PRODUCTION_TOKEN`, `METAFLOW_OWNER`, `METAFLOW_USER=SFN`...), so tasks land in
//! namespace `production:<token>` (or `--namespace`) with the deployment's tags.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use ferry_spec::task::{ENV_BOOTSTRAP_SITE, StepCommand, TaskDescription};

use crate::env::TaskEnv;
use crate::error::TaskError;

/// One process to start: program, arguments, extra environment, working directory.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// Program (looked up on `PATH` when it has no `/`).
    pub program: OsString,
    /// Arguments after the program.
    pub args: Vec<OsString>,
    /// Variables set on top of the wrapper's own environment (later entries win).
    pub env: Vec<(String, String)>,
    /// Working directory (the extracted code package).
    pub cwd: PathBuf,
}

/// Everything needed to build a task's command lines.
pub struct CommandContext<'a> {
    pub desc: &'a TaskDescription,
    pub env: &'a TaskEnv,
    /// The extracted code package.
    pub package_dir: &'a Path,
    /// The file holding the step's input paths (`--input-paths-filename`).
    pub input_paths_file: &'a Path,
}

/// The datastore root Metaflow's `--datastore-root` expects: `<root>/.metaflow` for the local
/// datastore (what the client derives from `METAFLOW_DATASTORE_SYSROOT_LOCAL`), the root itself for S3.
pub fn datastore_root(desc: &TaskDescription) -> String {
    if desc.datastore.kind == "local" {
        format!("{}/.metaflow", desc.datastore.root.trim_end_matches('/'))
    } else {
        desc.datastore.root.clone()
    }
}

impl CommandContext<'_> {
    /// The environment every process of the task gets (before `desc.environment`, which wins).
    pub fn base_env(&self) -> Vec<(String, String)> {
        let d = self.desc;
        let mut env: Vec<(String, String)> = vec![
            ("PYTHONUNBUFFERED".into(), "x".into()),
            ("METAFLOW_DEFAULT_METADATA".into(), d.metadata.kind.clone()),
            (
                "METAFLOW_DEFAULT_DATASTORE".into(),
                d.datastore.kind.clone(),
            ),
            (
                "METAFLOW_PRODUCTION_TOKEN".into(),
                d.production_token.clone(),
            ),
            ("METAFLOW_OWNER".into(), d.owner.clone()),
            ("METAFLOW_USER".into(), "SFN".into()),
            ("USER".into(), d.owner.clone()),
            ("METAFLOW_FLOW_NAME".into(), d.flow.clone()),
            ("METAFLOW_STEP_NAME".into(), d.step.clone()),
            ("METAFLOW_RUN_ID".into(), self.env.execution.clone()),
            ("METAFLOW_RUNTIME_NAME".into(), "step-functions".into()),
            (
                "METAFLOW_EXTRACTED_ROOT".into(),
                self.package_dir.to_string_lossy().into_owned(),
            ),
        ];
        if let Some(url) = &d.metadata.url {
            env.push(("METAFLOW_SERVICE_URL".into(), url.clone()));
        }
        match d.datastore.kind.as_str() {
            "local" => env.push((
                "METAFLOW_DATASTORE_SYSROOT_LOCAL".into(),
                d.datastore.root.clone(),
            )),
            _ => env.push((
                "METAFLOW_DATASTORE_SYSROOT_S3".into(),
                d.datastore.root.clone(),
            )),
        }
        if let Some(pp) = self.pythonpath(
            std::env::var("PYTHONPATH").ok(),
            std::env::var(ENV_BOOTSTRAP_SITE).ok(),
        ) {
            env.push(("PYTHONPATH".into(), pp));
        }
        env.extend(d.environment.iter().map(|(k, v)| (k.clone(), v.clone())));
        env
    }

    /// The step's `PYTHONPATH` (`None`: leave the inherited one alone), given the inherited
    /// `PYTHONPATH` and `FERRY_BOOTSTRAP_SITE`:
    ///
    /// 1. `<package>/.mf_code` when the package has it: the deployer's `metaflow`, which
    ///    `ferry deploy` packages there (Metaflow's own layout). It comes first, so the exact
    ///    Metaflow that exported and compiled the flow runs the step whatever the image
    ///    has installed (the step CLI, the artifact format and the client semantics match
    ///    the deployer's), as Metaflow's own Batch jobs do;
    /// 2. the inherited `PYTHONPATH` (the image's own settings);
    /// 3. the bootstrap's `pip install --target` directory (`boto3`/`requests` the image
    ///    lacked), last: an absolute path to an existing directory, else ignored. Not for a
    ///    step with a `@pypi`/`@conda` environment, whose own packages must win: that
    ///    environment appends the directory after its site-packages itself (`ferry-pyenv`).
    pub fn pythonpath(
        &self,
        inherited: Option<String>,
        bootstrap: Option<String>,
    ) -> Option<String> {
        let mut parts: Vec<String> = Vec::new();
        let mf_code = self.package_dir.join(".mf_code");
        if mf_code.is_dir() {
            parts.push(mf_code.to_string_lossy().into_owned());
        }
        let inherited = inherited.filter(|v| !v.is_empty());
        let has_env = self
            .desc
            .python_env
            .as_ref()
            .and_then(|e| e.lock.as_ref())
            .is_some()
            && matches!(self.desc.command, StepCommand::Metaflow { .. });
        let bootstrap =
            bootstrap.filter(|b| !has_env && Path::new(b).is_absolute() && Path::new(b).is_dir());
        if parts.is_empty() && bootstrap.is_none() {
            return None;
        }
        parts.extend(inherited);
        parts.extend(bootstrap);
        Some(parts.join(":"))
    }

    /// `<python> <flow_file> <top options>`: the program and the arguments before the subcommand.
    fn metaflow_prefix(&self, python: &str) -> (OsString, Vec<OsString>) {
        let d = self.desc;
        let mut args: Vec<OsString> = vec![
            d.flow_file.clone().into(),
            "--quiet".into(),
            format!("--metadata={}", d.metadata.kind).into(),
            format!(
                "--environment={}",
                d.python_env.as_ref().map_or("local", |e| e.kind.as_str())
            )
            .into(),
            format!("--datastore={}", d.datastore.kind).into(),
            format!("--datastore-root={}", datastore_root(d)).into(),
            "--no-pylint".into(),
        ];
        if let Some(p) = &d.project {
            if let Some(b) = &p.branch {
                args.push(format!("--branch={b}").into());
            }
            if p.production {
                args.push("--production".into());
            }
        }
        (python.into(), args)
    }

    fn tags(&self, args: &mut Vec<OsString>) {
        for t in &self.desc.tags {
            args.push("--tag".into());
            args.push(t.into());
        }
    }

    /// The `init` invocation for `start` (parameters travel in `init_env`).
    pub fn init(&self, init_env: Vec<(String, String)>) -> Result<Invocation, TaskError> {
        let StepCommand::Metaflow { python } = &self.desc.command else {
            return Err(TaskError::Description(
                "a generic (argv) step cannot have `start` inputs".into(),
            ));
        };
        let (program, mut args) = self.metaflow_prefix(python);
        args.extend([
            "init".into(),
            "--run-id".into(),
            self.env.run_id().into(),
            "--task-id".into(),
            parameters_task_id(&self.env.job_id).into(),
        ]);
        self.tags(&mut args);
        let mut env = self.base_env();
        env.extend(init_env);
        Ok(Invocation {
            program,
            args,
            env,
            cwd: self.package_dir.to_path_buf(),
        })
    }

    /// The step invocation: Metaflow's `step` command, or the generic argv.
    pub fn step(&self) -> Result<Invocation, TaskError> {
        let d = self.desc;
        let env = self.base_env();
        let cwd = self.package_dir.to_path_buf();
        match &d.command {
            StepCommand::ExitHook { .. } => Err(TaskError::Description(
                "the exit hook task runs its functions, not a step (crate::exit_hook)".into(),
            )),
            StepCommand::Argv { argv } => {
                let (program, rest) = argv
                    .split_first()
                    .ok_or_else(|| TaskError::Description("the step's argv is empty".into()))?;
                Ok(Invocation {
                    program: program.into(),
                    args: rest.iter().map(Into::into).collect(),
                    env,
                    cwd,
                })
            }
            StepCommand::Metaflow { python } => {
                let (program, mut args) = self.metaflow_prefix(python);
                args.extend([
                    "step".into(),
                    d.step.clone().into(),
                    "--run-id".into(),
                    self.env.run_id().into(),
                    "--task-id".into(),
                    self.env.job_id.clone().into(),
                    "--retry-count".into(),
                    self.env.retry_count()?.to_string().into(),
                    "--max-user-code-retries".into(),
                    d.retries.max_user_code_retries.to_string().into(),
                    "--input-paths-filename".into(),
                    self.input_paths_file.into(),
                ]);
                if let Some(i) = self.env.split_index()? {
                    args.push("--split-index".into());
                    args.push(i.to_string().into());
                }
                self.tags(&mut args);
                if let Some(ns) = &d.namespace {
                    args.push(format!("--namespace={ns}").into());
                }
                Ok(Invocation {
                    program,
                    args,
                    env,
                    cwd,
                })
            }
        }
    }
}

/// The task id of the `_parameters` pseudo-task of `start`: `<job id>-params`.
pub fn parameters_task_id(job_id: &str) -> String {
    format!("{job_id}-params")
}
