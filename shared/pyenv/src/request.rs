//! Which environment each step asks for, following Metaflow's rules: a step's `@pypi`/`@conda`
//! packages are merged over the flow's `@pypi_base`/`@conda_base` (the step wins), its `python`
//! falls back to the base's, then to the deployer's Python; once a flow declares any of these
//! decorators, every step runs in an environment (an empty one when it declares nothing), except
//! steps marked `disabled`.

use std::collections::BTreeMap;

use ferry_spec::FlowSpec;
use ferry_spec::task::PythonEnvKind;
use serde::{Deserialize, Serialize};

use crate::error::PyenvError;

/// One environment to resolve: its identity is this whole value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvRequest {
    /// `pypi` or `conda` (decides how unresolvable names are reported).
    pub kind: PythonEnvKind,
    /// Python version, `X.Y` or `X.Y.Z`.
    pub python: String,
    /// Distribution name → version specifier (`1.2.3` means `==1.2.3`; an operator such as
    /// `>=1.2` is used as written; empty means any version).
    pub packages: BTreeMap<String, String>,
}

impl EnvRequest {
    /// Stable identity: lower-case hex sha256 of the canonical JSON of the request.
    pub fn id(&self) -> String {
        crate::sha256_hex(&serde_json::to_vec(self).expect("an EnvRequest serialises"))
    }

    /// `X.Y` of [`Self::python`].
    pub fn python_minor(&self) -> String {
        self.python.split('.').take(2).collect::<Vec<_>>().join(".")
    }

    /// A short human description (`@pypi python 3.11 [tomli==2.0.1]`) for messages.
    pub fn describe(&self) -> String {
        let pkgs: Vec<String> = self
            .packages
            .iter()
            .map(|(n, v)| requirement_line(n, v))
            .collect();
        format!(
            "the @{} environment (python {}, packages [{}])",
            self.kind.as_str(),
            self.python,
            pkgs.join(", ")
        )
    }

    /// The `requirements.in` lines, after validation.
    pub fn requirement_lines(&self) -> Result<Vec<String>, PyenvError> {
        check_python(&self.python)?;
        self.packages
            .iter()
            .map(|(n, v)| {
                check_name(n)?;
                check_version(n, v)?;
                Ok(requirement_line(n, v))
            })
            .collect()
    }
}

/// What a step runs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepEnv {
    /// `disabled=True`: the task image's Python, with Metaflow's `--environment` still set.
    Disabled,
    /// This environment.
    Env(EnvRequest),
}

/// The flow's environment kind (`pypi` when it has `@pypi`/`@pypi_base`, else `conda` when it
/// has `@conda`/`@conda_base`), or `None` when it declares no environment at all.
pub fn flow_kind(spec: &FlowSpec) -> Option<PythonEnvKind> {
    let d = &spec.decorators;
    let step_has = |pypi: bool| {
        spec.steps.iter().any(|s| {
            if pypi {
                s.decorators.pypi.is_some()
            } else {
                s.decorators.conda.is_some()
            }
        })
    };
    if d.pypi_base.is_some() || step_has(true) {
        Some(PythonEnvKind::Pypi)
    } else if d.conda_base.is_some() || step_has(false) {
        Some(PythonEnvKind::Conda)
    } else {
        None
    }
}

/// The environment of every Metaflow step (generic `command` steps are left out), or an empty
/// map when the flow declares none. `default_python` is used when no decorator names one.
pub fn step_environments(spec: &FlowSpec, default_python: &str) -> BTreeMap<String, StepEnv> {
    let Some(flow_kind) = flow_kind(spec) else {
        return BTreeMap::new();
    };
    let base = spec
        .decorators
        .pypi_base
        .as_ref()
        .or(spec.decorators.conda_base.as_ref());
    let mut out = BTreeMap::new();
    for step in spec.steps.iter().filter(|s| s.command.is_none()) {
        let d = &step.decorators;
        let (kind, own) = match (&d.pypi, &d.conda) {
            (Some(p), _) => (PythonEnvKind::Pypi, Some(p)),
            (None, Some(c)) => (PythonEnvKind::Conda, Some(c)),
            (None, None) => (flow_kind, None),
        };
        let disabled =
            own.is_some_and(|e| e.disabled) || (own.is_none() && base.is_some_and(|b| b.disabled));
        if disabled {
            out.insert(step.name.clone(), StepEnv::Disabled);
            continue;
        }
        let mut packages = base.map(|b| b.packages.clone()).unwrap_or_default();
        if let Some(e) = own {
            packages.extend(e.packages.clone());
        }
        let python = own
            .and_then(|e| e.python.clone())
            .or_else(|| base.and_then(|b| b.python.clone()))
            .unwrap_or_else(|| default_python.to_string());
        out.insert(
            step.name.clone(),
            StepEnv::Env(EnvRequest {
                kind,
                python,
                packages,
            }),
        );
    }
    out
}

fn requirement_line(name: &str, version: &str) -> String {
    let v = version.trim();
    if v.is_empty() {
        name.to_string()
    } else if v.starts_with(|c: char| c.is_ascii_digit()) {
        format!("{name}=={v}")
    } else {
        format!("{name}{v}")
    }
}

/// A PEP 508 distribution name (letters, digits, `.`, `_`, `-`; starts and ends alphanumeric).
fn check_name(name: &str) -> Result<(), PyenvError> {
    let ok = !name.is_empty()
        && name.len() <= 200
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(PyenvError::Invalid(format!(
            "{name:?} is not a valid Python package name"
        )))
    }
}

/// A version specifier: digits, letters, `.*+!<>=~,` and spaces only (no markers, options or
/// URLs: nothing that a requirements file would read as something else).
fn check_version(name: &str, v: &str) -> Result<(), PyenvError> {
    let ok = v.len() <= 200
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || ".*+!<>=~, ".contains(c));
    if ok {
        Ok(())
    } else {
        Err(PyenvError::Invalid(format!(
            "{v:?} is not a version specifier Ferry accepts for package {name}"
        )))
    }
}

/// `X.Y` or `X.Y.Z`, digits only.
pub fn check_python(v: &str) -> Result<(), PyenvError> {
    let parts: Vec<&str> = v.split('.').collect();
    let ok = (2..=3).contains(&parts.len())
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 3 && p.chars().all(|c| c.is_ascii_digit()));
    if ok {
        Ok(())
    } else {
        Err(PyenvError::Invalid(format!(
            "{v:?} is not a Python version (expected X.Y or X.Y.Z)"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferry_spec::PythonEnv;

    fn spec(json: serde_json::Value) -> FlowSpec {
        serde_json::from_value(json).unwrap()
    }

    fn env(pk: &[(&str, &str)], python: Option<&str>, disabled: bool) -> PythonEnv {
        PythonEnv {
            packages: pk
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            python: python.map(str::to_string),
            disabled,
        }
    }

    fn two_steps() -> FlowSpec {
        spec(serde_json::json!({
            "spec_version": 1, "flow": "F", "file": "f.py",
            "steps": [
                {"name": "start", "type": "linear", "next": ["end"]},
                {"name": "end", "type": "end"}
            ]
        }))
    }

    #[test]
    fn no_decorator_means_no_environment() {
        assert!(step_environments(&two_steps(), "3.11").is_empty());
    }

    #[test]
    fn step_packages_override_base_and_every_step_gets_one() {
        let mut s = two_steps();
        s.decorators.pypi_base = Some(env(
            &[("tomli", "2.0.1"), ("six", "1.16.0")],
            Some("3.11"),
            false,
        ));
        s.steps[1].decorators.pypi = Some(env(&[("tomli", "2.0.2")], None, false));
        let envs = step_environments(&s, "3.12");
        let StepEnv::Env(start) = &envs["start"] else {
            panic!()
        };
        let StepEnv::Env(end) = &envs["end"] else {
            panic!()
        };
        assert_eq!(start.packages["tomli"], "2.0.1");
        assert_eq!(end.packages["tomli"], "2.0.2");
        assert_eq!(end.packages["six"], "1.16.0");
        assert_eq!(end.python, "3.11");
        assert_ne!(start.id(), end.id());
    }

    #[test]
    fn undecorated_steps_of_a_decorated_flow_get_an_empty_environment() {
        let mut s = two_steps();
        s.steps[0].decorators.conda = Some(env(&[("attrs", "23.1.0")], None, false));
        let envs = step_environments(&s, "3.11");
        let StepEnv::Env(end) = &envs["end"] else {
            panic!()
        };
        assert!(end.packages.is_empty());
        assert_eq!(end.kind, PythonEnvKind::Conda);
        assert_eq!(end.python, "3.11");
    }

    #[test]
    fn disabled_steps_run_without_environment() {
        let mut s = two_steps();
        s.decorators.pypi_base = Some(env(&[("tomli", "2.0.1")], None, false));
        s.steps[0].decorators.pypi = Some(env(&[], None, true));
        let envs = step_environments(&s, "3.11");
        assert_eq!(envs["start"], StepEnv::Disabled);
        assert!(matches!(envs["end"], StepEnv::Env(_)));
    }

    #[test]
    fn requirement_lines_are_validated() {
        let mut r = EnvRequest {
            kind: PythonEnvKind::Pypi,
            python: "3.11".into(),
            packages: BTreeMap::from([
                ("tomli".into(), "2.0.1".into()),
                ("attrs".into(), ">=23,<24".into()),
                ("six".into(), "".into()),
            ]),
        };
        assert_eq!(
            r.requirement_lines().unwrap(),
            vec!["attrs>=23,<24", "six", "tomli==2.0.1"]
        );
        r.packages
            .insert("evil".into(), "1\n--index-url http://x".into());
        assert!(r.requirement_lines().is_err());
        r.packages.remove("evil");
        r.packages.insert("-e".into(), "1".into());
        assert!(r.requirement_lines().is_err());
        r.packages.remove("-e");
        r.python = "3.11; rm".into();
        assert!(r.requirement_lines().is_err());
        r.python = "3.11.7".into();
        assert_eq!(r.python_minor(), "3.11");
        assert!(r.requirement_lines().is_ok());
    }
}
