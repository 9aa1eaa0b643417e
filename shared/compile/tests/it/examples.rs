//! Every flow in `examples/`, exported with the real `metaflow` package, compiles for every
//! target (AWS on EC2 and on Fargate, the embedded stack) to definitions that pass the limit checker and
//! `asl-validator`; project flows get Metaflow's names and token prefixes.

use crate::common;

use std::path::PathBuf;

use common::*;
use ferry_compile::naming::{NameRequest, deployment_names};
use ferry_compile::token::new_token;
use ferry_compile::{CompileOptions, compile, limits};
use ferry_spec::export::export_validated;
use ferry_spec::task::ProjectOptions;

#[test]
fn every_example_compiles_for_every_target() {
    let examples = ferry_testkit::workspace_root().join("examples");
    let mut flows: Vec<PathBuf> = std::fs::read_dir(&examples)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "py"))
        .collect();
    flows.sort();
    assert!(!flows.is_empty(), "no examples in {}", examples.display());
    let tmp = tempfile::tempdir().unwrap();
    let mut defs = Vec::new();
    for path in &flows {
        let (spec, graph) = export_validated(&ferry_testkit::python(), path, None)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let project = spec.decorators.project.clone();
        let names = deployment_names(&NameRequest {
            flow: &spec.flow,
            project: project.as_ref().map(|p| p.name.as_str()),
            branch: project.as_ref().and_then(|p| p.branch.as_deref()),
            production: project.as_ref().is_some_and(|p| p.production),
            user: "alice",
            ..Default::default()
        })
        .unwrap();
        if let Some(p) = &project {
            assert!(
                names.token_prefix.starts_with("mfprj-"),
                "{}",
                path.display()
            );
            assert!(names.state_machine.starts_with(&format!("{}.", p.name)));
        } else {
            assert_eq!(names.token_prefix, spec.flow.to_lowercase());
        }
        for (target, base) in [
            ("aws", aws_options(&names.state_machine)),
            (
                // The SAM stack's compute: every step must be a Fargate task size.
                "fargate",
                CompileOptions {
                    platform: ferry_compile::Platform::Fargate,
                    ..aws_options(&names.state_machine)
                },
            ),
            ("local", local_options(&names.state_machine)),
        ] {
            let options = CompileOptions {
                production_token: new_token(&names.token_prefix),
                project: project.as_ref().map(|p| ProjectOptions {
                    branch: p.branch.clone(),
                    production: p.production,
                }),
                ..base
            };
            let compiled = compile(&spec, &graph, &options)
                .unwrap_or_else(|e| panic!("{} ({target}): {e}", path.display()));
            let problems = limits::check_definition(&compiled.definition);
            assert!(
                problems.is_empty(),
                "{} ({target}): {problems:#?}",
                path.display()
            );
            assert_eq!(compiled.task_descriptions.len(), spec.steps.len());
            assert_eq!(
                compiled.schedule.is_some(),
                spec.decorators.schedule.is_some()
            );
            let file = tmp.path().join(format!(
                "{}-{target}.json",
                path.file_stem().unwrap().to_string_lossy()
            ));
            std::fs::write(&file, compiled.definition_json()).unwrap();
            defs.push(file);
        }
    }
    let refs: Vec<&std::path::Path> = defs.iter().map(PathBuf::as_path).collect();
    ferry_testkit::asl_validate(&refs).unwrap_or_else(|e| panic!("asl-validator: {e}"));
}
