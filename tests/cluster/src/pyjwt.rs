//! PyJWT, an independent JOSE implementation (installed by scripts/setup.sh into build/venv),
//! driven through tests/cluster/interop/pyjwt_interop.py.

use std::path::PathBuf;
use std::process::Command;

fn python() -> PathBuf {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let venv = repo.join("build/venv/bin/python");
    assert!(
        venv.exists(),
        "{} is missing: run scripts/setup.sh (make setup)",
        venv.display()
    );
    venv
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("interop/pyjwt_interop.py")
}

/// Run pyjwt_interop.py with `args`; its standard output.
pub fn run_python(args: &[&str]) -> String {
    let out = Command::new(python())
        .arg(script())
        .args(args)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "pyjwt_interop.py {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

/// A new scratch directory for the script's files.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pak-interop-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}
