//! A Lua 5.3 state opened the way GenVM's LLM module opens one (GENVM.md §2): mlua's safe
//! constructor with base, coroutine, table, io, string, math and package; no os, utf8 or
//! debug, and no C modules on the search path.

use mlua::{Lua, LuaOptions, Result, StdLib, Table};

/// The libraries GenVM loads besides base, which mlua always opens.
pub fn genvm_libs() -> StdLib {
    StdLib::COROUTINE | StdLib::TABLE | StdLib::IO | StdLib::STRING | StdLib::MATH | StdLib::PACKAGE
}

/// A fresh sandboxed state whose `package.path` is exactly `path`.
pub fn new_state(path: &str) -> Result<Lua> {
    let lua = Lua::new_with(genvm_libs(), LuaOptions::default())?;
    let version: String = lua.globals().get("_VERSION")?;
    if version != "Lua 5.3" {
        return Err(mlua::Error::runtime(format!("mlua runs {version}, expected Lua 5.3")));
    }
    let package: Table = lua.globals().get("package")?;
    package.set("path", path)?;
    package.set("cpath", "")?;
    Ok(lua)
}

/// The `package.path` entry for a Lua source root such as `dispatch/`.
pub fn root_path(root: &str) -> String {
    format!("{}/?.lua", root.trim_end_matches('/'))
}
