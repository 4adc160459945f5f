//! Tests of the client against a real `qemu-system-x86_64` (TCG, paused with `-S`).

use std::io::Write;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::*;

/// A QEMU child killed and reaped on drop.
struct Vm {
    child: Child,
    dir: tempfile::TempDir,
    sock: PathBuf,
}

enum Monitor {
    /// `-qmp unix:PATH,server=on,wait=off`
    Qmp,
    /// `-chardev socket,... -mon chardev=m,mode=control`
    Chardev,
}

impl Vm {
    fn start(monitor: Monitor, extra: impl FnOnce(&Path) -> Vec<String>) -> Vm {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("qmp.sock");
        let accel = std::env::var("HANGAR_ACCEL").unwrap_or_else(|_| "tcg".into());
        let mut cmd = Command::new("qemu-system-x86_64");
        cmd.args([
            "-machine",
            "q35",
            "-accel",
            &accel,
            "-nodefaults",
            "-display",
            "none",
            "-S",
            "-m",
            "128",
        ]);
        match monitor {
            Monitor::Qmp => {
                cmd.arg("-qmp")
                    .arg(format!("unix:{},server=on,wait=off", sock.display()));
            }
            Monitor::Chardev => {
                cmd.arg("-chardev")
                    .arg(format!("socket,id=m,path={},server=on,wait=off", sock.display()));
                cmd.args(["-mon", "chardev=m,mode=control"]);
            }
        }
        cmd.args(extra(dir.path()));
        let log = std::fs::File::create(dir.path().join("qemu.log")).unwrap();
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(log);
        let child = cmd.spawn().expect("qemu-system-x86_64 must be installed");
        let mut vm = Vm { child, dir, sock };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !vm.sock.exists() {
            if let Some(status) = vm.child.try_wait().unwrap() {
                panic!("QEMU exited early ({status}): {}", vm.log());
            }
            assert!(
                Instant::now() < deadline,
                "QEMU socket never appeared: {}",
                vm.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        vm
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("qemu.log")).unwrap_or_default()
    }

    /// Connects, retrying while the socket file exists but QEMU is not listening on it yet
    /// (between its bind() and listen(), connect is refused).
    async fn connect(&self) -> (Qmp, QmpEvents) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match Qmp::connect(&self.sock).await {
                Ok(conn) => return conn,
                Err(QmpError::Connect { .. }) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => panic!("connect: {e}; log: {}", self.log()),
            }
        }
    }

    /// Waits for QEMU to exit on its own.
    async fn wait_exit(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "QEMU did not exit");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn next_event(ev: &mut QmpEvents) -> QmpEvent {
    tokio::time::timeout(Duration::from_secs(10), ev.recv())
        .await
        .expect("no event in 10 s")
        .expect("stream ended")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_stop_cont_events_and_hmp() {
    let vm = Vm::start(Monitor::Qmp, |_| vec![]);
    let (qmp, mut ev) = vm.connect().await;
    assert!(qmp.greeting().version >= (7, 0, 0), "{:?}", qmp.greeting());

    let st = qmp.execute(qapi_qmp::query_status {}).await.unwrap();
    assert!(!st.running);
    assert!(
        matches!(st.status, qapi_qmp::RunState::prelaunch),
        "{:?}",
        st.status
    );

    qmp.execute(qapi_qmp::cont {}).await.unwrap();
    assert_eq!(next_event(&mut ev).await, QmpEvent::Resume);
    let st = qmp.execute(qapi_qmp::query_status {}).await.unwrap();
    assert!(st.running);

    qmp.execute(qapi_qmp::stop {}).await.unwrap();
    assert_eq!(next_event(&mut ev).await, QmpEvent::Stop);
    let st = qmp.execute(qapi_qmp::query_status {}).await.unwrap();
    assert!(matches!(st.status, qapi_qmp::RunState::paused), "{:?}", st.status);

    let version = qmp.hmp("info version").await.unwrap();
    let (ma, mi, mc) = qmp.greeting().version;
    assert!(version.starts_with(&format!("{ma}.{mi}.{mc}")), "{version:?}");

    let raw = qmp
        .execute_raw(serde_json::json!({"execute": "query-name"}))
        .await
        .unwrap();
    assert!(raw.is_object(), "{raw}");

    let err = qmp
        .execute_raw(serde_json::json!({"execute": "no-such-command"}))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, QmpError::Command { class, .. } if class == "CommandNotFound"),
        "{err}"
    );
    assert!(err.to_string().contains("no-such-command"), "{err}");

    let bad = qapi_qmp::device_add::new("no-such-device", Some("x".to_owned()), None, []);
    let err = qmp.execute(bad).await.unwrap_err();
    assert!(err.to_string().contains("no-such-device"), "{err}");

    let key = qapi_qmp::KeyValue::qcode(qapi_qmp::QKeyCodeWrapper {
        data: qapi_qmp::QKeyCode::a,
    });
    qmp.execute(qapi_qmp::send_key {
        keys: vec![key],
        hold_time: Some(10),
    })
    .await
    .unwrap();
    qmp.execute(qapi_qmp::system_reset {}).await.unwrap();
    assert_eq!(next_event(&mut ev).await, QmpEvent::Reset { guest: false });
    assert!(qmp.is_connected());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn getfd_closefd_and_add_fd_with_real_fds() {
    let vm = Vm::start(Monitor::Chardev, |_| vec![]);
    let (qmp, _ev) = vm.connect().await;
    let mut file = tempfile::tempfile().unwrap();
    file.write_all(b"x").unwrap();

    let err = qmp
        .execute(qapi_qmp::getfd {
            fdname: "nofd".into(),
        })
        .await
        .unwrap_err();
    assert!(
        matches!(err, QmpError::Command { .. }),
        "getfd without an fd must fail: {err}"
    );

    qmp.execute_with_fd(
        qapi_qmp::getfd {
            fdname: "hangar-fd".into(),
        },
        file.as_fd(),
    )
    .await
    .unwrap();
    qmp.execute(qapi_qmp::closefd {
        fdname: "hangar-fd".into(),
    })
    .await
    .unwrap();
    let err = qmp
        .execute(qapi_qmp::closefd {
            fdname: "hangar-fd".into(),
        })
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("hangar-fd"),
        "second closefd must fail: {err}"
    );

    let add = qapi_qmp::add_fd {
        fdset_id: None,
        opaque: Some("hangar-test".into()),
    };
    let info = qmp.execute_with_fd(add, file.as_fd()).await.unwrap();
    let sets = qmp.execute(qapi_qmp::query_fdsets {}).await.unwrap();
    let set = sets
        .iter()
        .find(|s| s.fdset_id == info.fdset_id)
        .expect("fdset listed");
    assert!(set
        .fds
        .iter()
        .any(|f| f.fd == info.fd && f.opaque.as_deref() == Some("hangar-test")));
    qmp.execute(qapi_qmp::remove_fd {
        fdset_id: info.fdset_id,
        fd: None,
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_jobs_run_to_completion() {
    let vm = Vm::start(Monitor::Qmp, |dir| {
        let disk = dir.join("disk.qcow2");
        let out = Command::new("qemu-img")
            .args(["create", "-q", "-f", "qcow2"])
            .arg(&disk)
            .arg("16M")
            .output()
            .expect("qemu-img must be installed");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        vec![
            "-blockdev".into(),
            format!("driver=file,filename={},node-name=file0", disk.display()),
            "-blockdev".into(),
            "driver=qcow2,file=file0,node-name=disk0".into(),
        ]
    });
    let (qmp, _ev) = vm.connect().await;
    let long = Duration::from_secs(60);

    let save = qapi_qmp::snapshot_save {
        job_id: "save0".into(),
        tag: "first".into(),
        vmstate: "disk0".into(),
        devices: vec!["disk0".into()],
    };
    qmp.run_job(save, "save0", long).await.unwrap();
    let listing = qmp.hmp("info snapshots").await.unwrap();
    assert!(listing.contains("first"), "{listing}");
    let jobs = qmp.execute(qapi_qmp::query_jobs {}).await.unwrap();
    assert!(jobs.is_empty(), "the job must be dismissed: {jobs:?}");

    let load = qapi_qmp::snapshot_load {
        job_id: "load0".into(),
        tag: "missing".into(),
        vmstate: "disk0".into(),
        devices: vec!["disk0".into()],
    };
    let err = qmp.run_job(load, "load0", long).await.unwrap_err();
    match &err {
        QmpError::Job { id, error } => {
            assert_eq!(id, "load0");
            assert!(error.contains("missing"), "QEMU's text expected: {error}");
        }
        other => panic!("expected a job error, got {other}"),
    }
    assert!(qmp.execute(qapi_qmp::query_jobs {}).await.unwrap().is_empty());

    let load = qapi_qmp::snapshot_load {
        job_id: "load1".into(),
        tag: "first".into(),
        vmstate: "disk0".into(),
        devices: vec!["disk0".into()],
    };
    qmp.run_job(load, "load1", long).await.unwrap();
    let del = qapi_qmp::snapshot_delete {
        job_id: "del0".into(),
        tag: "first".into(),
        devices: vec!["disk0".into()],
    };
    qmp.run_job(del, "del0", long).await.unwrap();
    let listing = qmp.hmp("info snapshots").await.unwrap();
    assert!(!listing.contains("first"), "{listing}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quit_gives_disconnected_and_ends_events() {
    let mut vm = Vm::start(Monitor::Qmp, |_| vec![]);
    let (qmp, mut ev) = vm.connect().await;
    // QEMU normally answers quit before closing; if it closes first that is Disconnected.
    match qmp.execute(qapi_qmp::quit {}).await {
        Ok(_) => {}
        Err(e) => assert!(e.is_disconnected(), "{e}"),
    }
    assert_eq!(
        next_event(&mut ev).await,
        QmpEvent::Shutdown {
            guest: false,
            reason: "host-qmp-quit".into()
        }
    );
    let end = tokio::time::timeout(Duration::from_secs(10), ev.recv())
        .await
        .unwrap();
    assert_eq!(end, None);
    assert!(!qmp.is_connected());
    let err = qmp.execute(qapi_qmp::query_status {}).await.unwrap_err();
    assert!(err.is_disconnected(), "{err}");
    vm.wait_exit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_qemu_gives_disconnected() {
    let mut vm = Vm::start(Monitor::Qmp, |_| vec![]);
    let (qmp, mut ev) = vm.connect().await;
    vm.child.kill().unwrap();
    let end = tokio::time::timeout(Duration::from_secs(10), ev.recv())
        .await
        .unwrap();
    assert_eq!(end, None);
    assert!(!qmp.is_connected());
    let err = qmp.execute(qapi_qmp::query_status {}).await.unwrap_err();
    assert!(matches!(err, QmpError::Disconnected), "{err}");
    assert_eq!(
        err.to_string(),
        "the QEMU monitor connection closed: the VM has exited"
    );
}
