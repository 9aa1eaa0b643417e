//! Tasks: `S#<flow>#<run>#<step>` / `T#<id>` plus alias items `TA#<task_name>`.

use std::collections::BTreeMap;

use ferry_store::{Attr, Condition, Item, Query, TableError, WriteOp};

use super::Repo;
use crate::error::{ApiError, ApiResult};
use crate::layout;
use crate::model::{Run, Task, TaskBrief};
use crate::validate;

impl Repo {
    /// Create a task in an existing step: allocate its id, then write the task (and its alias)
    /// atomically; 409 when the alias is taken. `task.task_id` is replaced.
    pub async fn create_task(&self, run: &Run, mut task: Task) -> ApiResult<Task> {
        task.task_id = self.task_ids.next(&self.table).await?;
        let mut ops = vec![WriteOp::Put {
            item: task.to_item(run),
            condition: Condition::NotExists,
        }];
        if let Some(alias) = &task.task_name {
            let (pk, sk) = layout::task_alias(&run.flow_id, run.run_number, &task.step_name, alias);
            let mut attrs = BTreeMap::new();
            attrs.insert("task_id".into(), Attr::N(task.task_id));
            attrs.insert("schema_version".into(), Attr::N(layout::SCHEMA_VERSION));
            ops.push(WriteOp::Put {
                item: Item { pk, sk, attrs },
                condition: Condition::NotExists,
            });
        }
        match self.write_all(ops).await {
            Ok(()) => Ok(task),
            Err(TableError::ConditionFailed { .. }) => Err(ApiError::Conflict(format!(
                "task {} of step {} already exists",
                task.exposed_str(),
                task.step_name
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// A task by its path segment: all digits address the id, anything else the alias.
    pub async fn resolve_task(&self, run: &Run, step: &str, seg: &str) -> ApiResult<Option<Task>> {
        let id = if validate::is_numeric(seg) {
            match validate::parse_id(seg) {
                Some(n) => n,
                None => return Ok(None),
            }
        } else {
            let (pk, sk) = layout::task_alias(&run.flow_id, run.run_number, step, seg);
            match self.table.get(&pk, &sk).await? {
                Some(Item { attrs, .. }) => match attrs.get("task_id") {
                    Some(Attr::N(n)) => *n,
                    _ => return Ok(None),
                },
                None => return Ok(None),
            }
        };
        let (pk, sk) = layout::task(&run.flow_id, run.run_number, step, id);
        Ok(self
            .table
            .get(&pk, &sk)
            .await?
            .as_ref()
            .and_then(Task::from_item))
    }

    /// Keep what a task's `attempt` / `attempt_ok` metadata said on its item (attributes
    /// `attempt`, `attempt_ts`, `attempt_ok`, `attempt_ok_ts`, times in ms), so a listing of a
    /// step's tasks tells each task's state without a metadata query per task. One conditional
    /// `SET` on the task item per post that carries either field (Metaflow posts `attempt` when
    /// an attempt starts and `attempt_ok` when it ends).
    pub async fn record_attempt(
        &self,
        run: &Run,
        task: &Task,
        attempt: Option<i64>,
        attempt_ok: Option<bool>,
    ) -> ApiResult<()> {
        let (pk, sk) = layout::task(&run.flow_id, run.run_number, &task.step_name, task.task_id);
        let now = super::now_ms();
        let mut attrs = BTreeMap::new();
        if let Some(a) = attempt {
            attrs.insert("attempt".into(), Attr::N(a));
            attrs.insert("attempt_ts".into(), Attr::N(now));
        }
        if let Some(ok) = attempt_ok {
            attrs.insert("attempt_ok".into(), Attr::Bool(ok));
            attrs.insert("attempt_ok_ts".into(), Attr::N(now));
        }
        if attrs.is_empty() {
            return Ok(());
        }
        self.table.set(&pk, &sk, attrs, Condition::Exists).await?;
        Ok(())
    }

    /// Every task of a step, by id.
    pub async fn list_tasks(&self, run: &Run, step: &str) -> ApiResult<Vec<Task>> {
        let pk = layout::step_pk(&run.flow_id, run.run_number, step);
        let items = self.query_all(&pk, layout::TASK_PREFIX).await?;
        Ok(items.iter().filter_map(Task::from_item).collect())
    }

    /// Every task of a step as a [`TaskBrief`], by id: the step's partition read with the
    /// query projected to [`TaskBrief::ATTRIBUTES`] (following pages).
    pub async fn list_task_briefs(&self, run: &Run, step: &str) -> ApiResult<Vec<TaskBrief>> {
        let mut out = Vec::new();
        let mut after = None;
        loop {
            let page = self.task_brief_query(run, step, false, None, after).await?;
            out.extend(page.items.iter().filter_map(TaskBrief::from_item));
            match page.next {
                Some(next) => after = Some(next),
                None => return Ok(out),
            }
        }
    }

    /// One page of a step's tasks as [`TaskBrief`]s, bounded in the store: at most `limit` tasks
    /// with an id greater than `after` in id order, or with `descending` with an id smaller than
    /// `after`, greatest first (paging back). Returns the tasks and whether more follow in that
    /// direction. One query of `limit + 1` items at most (DynamoDB may stop a page at 1 MB).
    pub async fn task_briefs_page(
        &self,
        run: &Run,
        step: &str,
        after: Option<i64>,
        descending: bool,
        limit: usize,
    ) -> ApiResult<(Vec<TaskBrief>, bool)> {
        let after = after.map(|id| layout::task(&run.flow_id, run.run_number, step, id).1);
        let page = self
            .task_brief_query(run, step, descending, Some(limit.max(1)), after)
            .await?;
        let briefs = page.items.iter().filter_map(TaskBrief::from_item).collect();
        Ok((briefs, page.next.is_some()))
    }

    async fn task_brief_query(
        &self,
        run: &Run,
        step: &str,
        descending: bool,
        limit: Option<usize>,
        after: Option<String>,
    ) -> ApiResult<ferry_store::Page> {
        let pk = layout::step_pk(&run.flow_id, run.run_number, step);
        let query = Query {
            sk_prefix: layout::TASK_PREFIX.to_string(),
            descending,
            limit,
            after,
            attributes: Some(TaskBrief::ATTRIBUTES.map(str::to_string).to_vec()),
        };
        Ok(self.table.query(&pk, query).await?)
    }
}
