//! Running QEMU background jobs (`snapshot-save`, `snapshot-load`, `snapshot-delete`, ...) to
//! completion, driven by JOB_STATUS_CHANGE events rather than polling.

use std::time::Duration;

use serde_json::{json, Value};

use super::client::Qmp;
use super::error::QmpError;
use super::event::{QmpEvent, QmpEvents};

impl Qmp {
    /// Starts a job with `cmd` (whose job id is `job_id`) and waits until it concludes, then
    /// reads its result and dismisses it. The event subscription is made before the command is
    /// sent, so no status change is missed. `timeout` bounds the whole wait; on timeout the job is
    /// left running in QEMU.
    ///
    /// Returns [`QmpError::Job`] with QEMU's error text when the job failed.
    pub async fn run_job<C: qapi_spec::Command>(
        &self,
        cmd: C,
        job_id: &str,
        timeout: Duration,
    ) -> Result<(), QmpError> {
        let mut events = self.subscribe();
        self.execute(cmd).await?;
        self.finish_job(&mut events, job_id, timeout).await
    }

    /// Waits (on `events`, which must have been subscribed before the job was started) until
    /// job `job_id` concludes, reads its error with `query-jobs`, and dismisses it.
    pub async fn finish_job(
        &self,
        events: &mut QmpEvents,
        job_id: &str,
        timeout: Duration,
    ) -> Result<(), QmpError> {
        let ended = |ev: &QmpEvent| {
            matches!(ev, QmpEvent::JobStatusChange { id, status }
                if id == job_id && (status == "concluded" || status == "null"))
        };
        match tokio::time::timeout(timeout, events.wait_for(ended)).await {
            Err(_) => {
                return Err(QmpError::Timeout {
                    command: format!("job {job_id}"),
                    timeout,
                });
            }
            Ok(None) => return Err(self.close_error()),
            Ok(Some(_)) => {}
        }
        let jobs = self.execute_raw(json!({"execute": "query-jobs"})).await?;
        let Some(info) = find_job(&jobs, job_id) else {
            return Err(QmpError::Job {
                id: job_id.to_owned(),
                error: "the job disappeared before its result could be read \
                        (another client may have dismissed it)"
                    .into(),
            });
        };
        let error = info.get("error").and_then(Value::as_str).map(str::to_owned);
        self.execute(qapi_qmp::job_dismiss {
            id: job_id.to_owned(),
        })
        .await?;
        match error {
            Some(error) => Err(QmpError::Job {
                id: job_id.to_owned(),
                error,
            }),
            None => Ok(()),
        }
    }
}

/// The entry of `query-jobs` output for `id`. Read by hand so that job types newer than the
/// bundled schema do not break decoding.
fn find_job<'a>(jobs: &'a Value, id: &str) -> Option<&'a Value> {
    jobs.as_array()?
        .iter()
        .find(|j| j.get("id").and_then(Value::as_str) == Some(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_job_by_id() {
        let jobs = json!([
            {"id": "a", "status": "running", "type": "backup"},
            {"id": "snap", "status": "concluded", "type": "snapshot-load", "error": "boom"}
        ]);
        assert_eq!(
            find_job(&jobs, "snap").and_then(|j| j.get("error")),
            Some(&json!("boom"))
        );
        assert!(find_job(&jobs, "zzz").is_none());
        assert!(find_job(&json!({}), "a").is_none());
    }
}
