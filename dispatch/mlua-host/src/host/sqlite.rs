//! The newest V2 line's preloaded `lsqlite3` (GENVM.md §3), over the SQLite library
//! GenVM links, and the statistics rows a report shows.
//!
//! Only the calls the hook makes (`dispatch/genvm_policy/parity.lua`), each with
//! lsqlite3's own contract, since that binding is a thin layer over SQLite's C API:
//! - `open(path)`: a handle, or `nil, code, message` (the handle's own errcode/errmsg);
//! - `db:exec(sql)`, `db:close()`, `stmt:bind_values(...)`, `stmt:step()`,
//!   `stmt:reset()`, `stmt:finalize()` return SQLite's result code (an integer);
//!   `db:busy_timeout(ms)` returns nothing; `db:errmsg()` the last message;
//! - `db:prepare(sql)` compiles at once: `stmt, tail`, or `nil, code`;
//! - `bind_values` with the wrong count is a Lua error, as lsqlite3 raises it;
//! - closing a handle finalizes its statements first; a closed handle or statement
//!   used again is a Lua error.

use libsqlite3_sys as ffi;
use mlua::{Error, Lua, MultiValue, Result, Table, UserData, UserDataMethods, Value};
use serde_json::{json, Value as Json};
use std::ffi::{c_int, CStr, CString};
use std::sync::{Arc, Mutex};

/// One open connection and its statements (null once finalized).
struct Conn {
    db: *mut ffi::sqlite3,
    stmts: Vec<*mut ffi::sqlite3_stmt>,
}

// mlua's `send` feature wants userdata to be Send; a VM is driven by one thread at a
// time and the pointers are only touched under the mutex.
unsafe impl Send for Conn {}

impl Conn {
    fn close(&mut self) -> c_int {
        for stmt in self.stmts.iter_mut().filter(|s| !s.is_null()) {
            unsafe { ffi::sqlite3_finalize(*stmt) };
            *stmt = std::ptr::null_mut();
        }
        let rc = unsafe { ffi::sqlite3_close(self.db) };
        self.db = std::ptr::null_mut();
        rc
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        if !self.db.is_null() {
            self.close();
        }
    }
}

type Handle = Arc<Mutex<Conn>>;

struct Db(Handle);

struct Stmt {
    conn: Handle,
    index: usize,
}

fn errmsg(db: *mut ffi::sqlite3) -> String {
    unsafe { CStr::from_ptr(ffi::sqlite3_errmsg(db)) }.to_string_lossy().into_owned()
}

/// The C string SQLite reads from a Lua string: up to its first NUL, as a `char *` is.
fn c_text(s: &mlua::String) -> CString {
    let bytes = s.as_bytes();
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    CString::new(&bytes[..end]).expect("cut at the first NUL")
}

fn open_db(lua: &Lua, path: mlua::String) -> Result<MultiValue> {
    let mut db: *mut ffi::sqlite3 = std::ptr::null_mut();
    let flags = ffi::SQLITE_OPEN_READWRITE | ffi::SQLITE_OPEN_CREATE;
    let rc = unsafe { ffi::sqlite3_open_v2(c_text(&path).as_ptr(), &mut db, flags, std::ptr::null()) };
    if rc != ffi::SQLITE_OK {
        let (code, message) = if db.is_null() {
            (rc, "out of memory".to_string())
        } else {
            (unsafe { ffi::sqlite3_errcode(db) }, errmsg(db))
        };
        unsafe { ffi::sqlite3_close(db) };
        return Ok(MultiValue::from_iter([Value::Nil, Value::Integer(code.into()), Value::String(lua.create_string(message)?)]));
    }
    let handle = Db(Arc::new(Mutex::new(Conn { db, stmts: Vec::new() })));
    Ok(MultiValue::from_iter([Value::UserData(lua.create_userdata(handle)?)]))
}

fn open_conn<'a>(conn: &'a Handle, method: &str) -> Result<std::sync::MutexGuard<'a, Conn>> {
    let guard = conn.lock().unwrap();
    if guard.db.is_null() {
        return Err(Error::runtime(format!("bad argument #1 to '{method}' (attempt to use closed sqlite database)")));
    }
    Ok(guard)
}

impl UserData for Db {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_method("exec", |_, this, sql: mlua::String| {
            let c = open_conn(&this.0, "exec")?;
            let text = c_text(&sql);
            let rc = unsafe { ffi::sqlite3_exec(c.db, text.as_ptr(), None, std::ptr::null_mut(), std::ptr::null_mut()) };
            Ok(rc as i64)
        });
        methods.add_method("errmsg", |_, this, ()| Ok(errmsg(open_conn(&this.0, "errmsg")?.db)));
        methods.add_method("busy_timeout", |_, this, ms: i32| {
            unsafe { ffi::sqlite3_busy_timeout(open_conn(&this.0, "busy_timeout")?.db, ms) };
            Ok(())
        });
        methods.add_method("prepare", |lua, this, sql: mlua::String| {
            let mut c = open_conn(&this.0, "prepare")?;
            let bytes = sql.as_bytes();
            let mut stmt: *mut ffi::sqlite3_stmt = std::ptr::null_mut();
            let mut tail: *const std::ffi::c_char = std::ptr::null();
            let rc = unsafe {
                ffi::sqlite3_prepare_v2(c.db, bytes.as_ptr().cast(), bytes.len() as c_int, &mut stmt, &mut tail)
            };
            if rc != ffi::SQLITE_OK {
                let code = unsafe { ffi::sqlite3_errcode(c.db) };
                return Ok(MultiValue::from_iter([Value::Nil, Value::Integer(code.into())]));
            }
            let used = if tail.is_null() { bytes.len() } else { tail as usize - bytes.as_ptr() as usize };
            let rest = lua.create_string(&bytes[used.min(bytes.len())..])?;
            c.stmts.push(stmt);
            let ud = lua.create_userdata(Stmt { conn: this.0.clone(), index: c.stmts.len() - 1 })?;
            Ok(MultiValue::from_iter([Value::UserData(ud), Value::String(rest)]))
        });
        methods.add_method("close", |_, this, ()| Ok(open_conn(&this.0, "close")?.close() as i64));
    }
}

impl Stmt {
    /// Run `f` on the live statement; a finalized one (or one of a closed handle) is the
    /// Lua error lsqlite3 raises.
    fn with<T>(&self, method: &str, f: impl FnOnce(&mut Conn, *mut ffi::sqlite3_stmt) -> Result<T>) -> Result<T> {
        let mut c = self.conn.lock().unwrap();
        let stmt = c.stmts[self.index];
        if stmt.is_null() {
            return Err(Error::runtime(format!("bad argument #1 to '{method}' (attempt to use closed sqlite3_vm)")));
        }
        f(&mut c, stmt)
    }
}

fn bind(stmt: *mut ffi::sqlite3_stmt, i: c_int, v: &Value) -> Result<c_int> {
    Ok(unsafe {
        match v {
            Value::Integer(n) => ffi::sqlite3_bind_int64(stmt, i, *n),
            Value::Number(x) => ffi::sqlite3_bind_double(stmt, i, *x),
            Value::Boolean(b) => ffi::sqlite3_bind_int(stmt, i, *b as c_int),
            Value::Nil => ffi::sqlite3_bind_null(stmt, i),
            Value::String(s) => {
                let b = s.as_bytes();
                ffi::sqlite3_bind_text(stmt, i, b.as_ptr().cast(), b.len() as c_int, ffi::SQLITE_TRANSIENT())
            }
            other => return Err(Error::runtime(format!("bad argument #{} to 'bind_values' ({} not bindable)", i + 1, other.type_name()))),
        }
    })
}

impl UserData for Stmt {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_method("bind_values", |_, this, values: MultiValue| {
            this.with("bind_values", |_, stmt| {
                let want = unsafe { ffi::sqlite3_bind_parameter_count(stmt) };
                if values.len() != want as usize {
                    return Err(Error::runtime(format!(
                        "incorrect number of parameters to bind ({} given, {want} to bind)", values.len())));
                }
                for (i, v) in values.iter().enumerate() {
                    let rc = bind(stmt, i as c_int + 1, v)?;
                    if rc != ffi::SQLITE_OK {
                        return Ok(rc as i64);
                    }
                }
                Ok(ffi::SQLITE_OK as i64)
            })
        });
        methods.add_method("step", |_, this, ()| this.with("step", |_, s| Ok(unsafe { ffi::sqlite3_step(s) } as i64)));
        methods.add_method("reset", |_, this, ()| this.with("reset", |_, s| Ok(unsafe { ffi::sqlite3_reset(s) } as i64)));
        methods.add_method("finalize", |_, this, ()| {
            this.with("finalize", |c, s| {
                c.stmts[this.index] = std::ptr::null_mut();
                Ok(unsafe { ffi::sqlite3_finalize(s) } as i64)
            })
        });
    }
}

/// `package.preload.lsqlite3`: the module table with the result codes the hook reads.
pub fn install(lua: &Lua) -> Result<()> {
    let module = lua.create_table()?;
    for (name, code) in [("OK", ffi::SQLITE_OK), ("ERROR", ffi::SQLITE_ERROR), ("BUSY", ffi::SQLITE_BUSY),
                         ("CANTOPEN", ffi::SQLITE_CANTOPEN), ("ROW", ffi::SQLITE_ROW), ("DONE", ffi::SQLITE_DONE)] {
        module.set(name, code)?;
    }
    module.set("open", lua.create_function(open_db)?)?;
    let preload: Table = lua.globals().get::<Table>("package")?.get("preload")?;
    preload.set("lsqlite3", lua.create_function(move |_, ()| Ok(module.clone()))?)
}

/// The rows of `provider_stats` in `path`, by model, for a report; None when the file
/// or the table is not there.
pub fn stats_rows(path: &str) -> Option<Json> {
    if !std::path::Path::new(path).is_file() {
        return None;
    }
    let mut db: *mut ffi::sqlite3 = std::ptr::null_mut();
    let cpath = CString::new(path).ok()?;
    let rc = unsafe { ffi::sqlite3_open_v2(cpath.as_ptr(), &mut db, ffi::SQLITE_OPEN_READONLY, std::ptr::null()) };
    let conn = Conn { db, stmts: Vec::new() };
    if rc != ffi::SQLITE_OK {
        return None;
    }
    let sql = c"SELECT model, errors, input_tokens, output_tokens FROM provider_stats ORDER BY model";
    let mut stmt: *mut ffi::sqlite3_stmt = std::ptr::null_mut();
    if unsafe { ffi::sqlite3_prepare_v2(conn.db, sql.as_ptr(), -1, &mut stmt, std::ptr::null_mut()) } != ffi::SQLITE_OK {
        return None;
    }
    let mut rows = Vec::new();
    while unsafe { ffi::sqlite3_step(stmt) } == ffi::SQLITE_ROW {
        let text = unsafe { ffi::sqlite3_column_text(stmt, 0) };
        let model = if text.is_null() { Json::Null } else {
            json!(unsafe { CStr::from_ptr(text.cast()) }.to_string_lossy())
        };
        let n = |i| unsafe { ffi::sqlite3_column_int64(stmt, i) };
        rows.push(json!({"model": model, "errors": n(1), "input_tokens": n(2), "output_tokens": n(3)}));
    }
    unsafe { ffi::sqlite3_finalize(stmt) };
    Some(Json::Array(rows))
}
