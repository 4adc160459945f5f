//! "Type" text into a guest as key presses (QMP `send-key`), for guests without a clipboard
//! agent: installers, text consoles, login screens. Keys follow the guest's keyboard layout
//! (`[input] keyboard_layout`, see [`crate::keymap`]); characters the layout cannot type are
//! reported in the [`TypeReport`], never dropped silently.
//!
//! Pacing: QEMU spaces the presses and releases of each `send-key` by its key delay (10 ms) on
//! its own timer, so the guest's keyboard buffer never overflows; Hangar sends a few characters
//! at a time and waits for them to be through before sending more (QEMU's queue is bounded),
//! holding the control socket only briefly. About 50 plain characters per second.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::{qmp_enum_name, Manager, ManagerError, Result, VmState};
use crate::keymap::{self, Layout, Plan, Skipped};

/// Above this many characters, ask the user before typing.
pub const TYPE_CONFIRM_CHARS: usize = 200;
/// Hangar types at most this many characters at once.
pub const TYPE_MAX_CHARS: usize = 10_000;

/// QEMU's spacing of queued key events (its default `send-key` hold time).
const QEMU_KEY_DELAY: Duration = Duration::from_millis(10);
/// Characters sent per control connection.
const CHUNK_CHARS: usize = 20;
/// Slack after each chunk for the guest to take the last key.
const CHUNK_MARGIN: Duration = Duration::from_millis(20);

/// What typing did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TypeReport {
    pub layout: Layout,
    /// Characters typed.
    pub typed: usize,
    /// Key presses (with their modifiers) sent.
    pub strokes: usize,
    /// Characters the layout cannot type (left out).
    pub skipped: Vec<Skipped>,
    pub seconds: f64,
}

/// Errors of typing text into a VM.
#[derive(Debug, thiserror::Error)]
pub enum TypeError {
    #[error(transparent)]
    Manager(#[from] ManagerError),
    #[error(
        "the text has {chars} characters, more than the {max} Hangar types; share long text through \
         the clipboard instead (`hangarctl clipboard VM send`)"
    )]
    TooLong { chars: usize, max: usize },
    #[error(
        "VM {name:?} is {}; resume it first (keys sent to a VM that is not running are lost)",
        state.label()
    )]
    NotRunning { name: String, state: VmState },
    #[error(
        "typing into VM {name:?} stopped after {typed} of {total} characters: {reason}; check what \
         arrived in the VM before typing the rest"
    )]
    Interrupted {
        name: String,
        typed: usize,
        total: usize,
        reason: String,
    },
}

impl Manager {
    /// How `text` would be typed into VM `name` (its layout, and what cannot be typed).
    pub fn plan_typing(&self, name: &str, text: &str) -> Result<Plan> {
        let config = self.store().load(name)?;
        Ok(keymap::plan(config.input.layout(), text))
    }

    /// Type `text` into running VM `name` with its keyboard layout. Refuses more than
    /// [`TYPE_MAX_CHARS`] characters; callers ask the user above [`TYPE_CONFIRM_CHARS`].
    pub async fn type_text(&self, name: &str, text: &str) -> Result<TypeReport, TypeError> {
        let chars = text.chars().count();
        if chars > TYPE_MAX_CHARS {
            return Err(TypeError::TooLong {
                chars,
                max: TYPE_MAX_CHARS,
            });
        }
        let plan = self.plan_typing(name, text)?;
        self.type_plan(name, &plan).await
    }

    async fn type_plan(&self, name: &str, plan: &Plan) -> Result<TypeReport, TypeError> {
        let start = Instant::now();
        let total = plan.chars.len();
        let mut typed = 0;
        let mut strokes = 0;
        let fail = |typed: usize, error: TypeError| match error {
            e if typed == 0 => e,
            e => TypeError::Interrupted {
                name: name.into(),
                typed,
                total,
                reason: e.to_string(),
            },
        };
        for chunk in plan.chars.chunks(CHUNK_CHARS) {
            let qmp = self.control(name).await.map_err(|e| fail(typed, e.into()))?;
            let status = qmp
                .execute(qapi_qmp::query_status {})
                .await
                .map_err(|e| fail(typed, ManagerError::qmp(name)(e).into()))?;
            let state = VmState::from_qmp_status(&qmp_enum_name(&status.status));
            if state != VmState::Running {
                let error = TypeError::NotRunning {
                    name: name.into(),
                    state,
                };
                return Err(fail(typed, error));
            }
            let mut events = 0u32;
            for planned in chunk {
                for stroke in &planned.strokes {
                    let keys = stroke.keys();
                    events += 2 * keys.len() as u32;
                    let command = qapi_qmp::send_key {
                        keys: keys.into_iter().map(qapi_qmp::KeyValue::from).collect(),
                        hold_time: None,
                    };
                    qmp.execute(command)
                        .await
                        .map_err(|e| fail(typed, ManagerError::qmp(name)(e).into()))?;
                    strokes += 1;
                }
                typed += 1;
            }
            drop(qmp);
            tokio::time::sleep(QEMU_KEY_DELAY * events + CHUNK_MARGIN).await;
        }
        tracing::debug!(vm = name, typed, strokes, "typed text");
        Ok(TypeReport {
            layout: plan.layout,
            typed,
            strokes,
            skipped: plan.skipped.clone(),
            seconds: start.elapsed().as_secs_f64(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Update, VmConfig};
    use crate::host::HostCaps;
    use crate::paths::Paths;
    use crate::store::Store;

    fn manager() -> (tempfile::TempDir, Manager) {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::new(dir.path().join("vms"), dir.path().join("rt"));
        let m = Manager::new(Store::new(paths), HostCaps::probe());
        m.store().create(&VmConfig::new("t")).unwrap();
        (dir, m)
    }

    #[tokio::test]
    async fn too_long_and_stopped_are_refused_before_any_key() {
        let (_dir, m) = manager();
        let long = "x".repeat(TYPE_MAX_CHARS + 1);
        let e = m.type_text("t", &long).await.unwrap_err();
        assert!(matches!(e, TypeError::TooLong { chars: 10_001, .. }), "{e:?}");
        assert!(e.to_string().contains("hangarctl clipboard VM send"), "{e}");
        let e = m.type_text("t", "hi").await.unwrap_err();
        assert!(
            matches!(e, TypeError::Manager(ManagerError::NotRunning(_))),
            "{e:?}"
        );
    }

    #[test]
    fn the_plan_follows_the_configured_layout() {
        let (_dir, m) = manager();
        assert_eq!(m.plan_typing("t", "a").unwrap().layout, Layout::Us);
        m.update("t", &Update::SetKeyboardLayout("fr".into())).unwrap();
        let plan = m.plan_typing("t", "a€✓").unwrap();
        assert_eq!(plan.layout, Layout::Fr);
        assert_eq!(plan.chars[0].strokes[0].key, qapi_qmp::QKeyCode::q);
        assert_eq!(plan.skipped, [Skipped { index: 2, ch: '✓' }]);
    }

    #[test]
    fn interrupted_says_how_far_it_got() {
        let e = TypeError::Interrupted {
            name: "vm".into(),
            typed: 40,
            total: 100,
            reason: "VM \"vm\" is paused".into(),
        };
        assert!(e.to_string().contains("after 40 of 100 characters"), "{e}");
        let e = TypeError::NotRunning {
            name: "vm".into(),
            state: VmState::Paused,
        };
        assert!(
            e.to_string().starts_with("VM \"vm\" is paused; resume it first"),
            "{e}"
        );
    }
}
