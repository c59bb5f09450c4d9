//! The vector runner: `dispatch/vectors/verify.lua`, the stand-alone runtime's own replay
//! script, run unchanged in a GenVM-shaped state. It prints each failure and the
//! `N passed, M failed` line itself and returns whether the run passed.

use crate::sandbox;
use mlua::{Result, Value};
use std::path::Path;

/// Replay `files` through `verify.lua` under `dispatch`; true when the run passed.
pub fn verify(dispatch: &Path, files: &[String]) -> Result<bool> {
    let root = dispatch.to_string_lossy();
    let lua = sandbox::new_state(&sandbox::root_path(&root))?;
    let script_path = dispatch.join("vectors").join("verify.lua");
    let source = std::fs::read(&script_path).map_err(|e| {
        mlua::Error::runtime(format!("cannot read {}: {e}", script_path.display()))
    })?;
    let arg = lua.create_table()?;
    arg.set(0, script_path.to_string_lossy().as_ref())?;
    for (i, file) in files.iter().enumerate() {
        arg.set(i + 1, file.as_str())?;
    }
    lua.globals().set("arg", arg)?;
    let chunk = format!("@{}", script_path.display());
    let passed: Value = lua.load(source).set_name(chunk).call(())?;
    Ok(passed == Value::Boolean(true))
}
