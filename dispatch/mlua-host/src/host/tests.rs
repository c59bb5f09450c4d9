//! The host's own checks; the cross-host comparison lives in tests/node/test_hook_scenarios.py.

use super::config;
use super::dflt::filter_text;
use super::state::{HostState, Profile, Shared};
use super::values::Rat;
use super::{block_on, dflt, find, llm, ModuleError};
use mlua::{Function, Lua, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

const V2_YAML: &str = include_str!("../../../../tests/data/genvm/genvm-module-llm.v2-greybox.yaml");
const V1_YAML: &str = include_str!("../../../../tests/data/genvm/llm-default-config.yaml");

fn env(keys: &[&str]) -> BTreeMap<String, String> {
    keys.iter().map(|k| (k.to_string(), "key".to_string())).collect()
}

fn host(profile: Profile) -> (Lua, Shared) {
    let lua = crate::sandbox::new_state("").unwrap();
    let state: Shared = Arc::new(Mutex::new(HostState {
        profile,
        scripts: BTreeMap::new(),
        http: Default::default(),
        records: BTreeMap::new(),
        current: 0,
        rng: 1,
        clock_ms: 0,
    }));
    let cfg = config::load(V2_YAML, false, &env(&["OPENROUTERKEY"]), "/genvm", None).unwrap();
    dflt::install(&lua, &state, "/genvm/data", true).unwrap();
    llm::install(&lua, &state, &cfg, false).unwrap();
    (lua, state)
}

fn run(lua: &Lua, code: &str) -> mlua::Result<Value> {
    let f: Function = lua.load(code).into_function()?;
    block_on(lua.create_thread(f)?.into_async::<Value>(()))
}

#[test]
fn the_sandbox_has_genvms_libraries_only() {
    let lua = crate::sandbox::new_state("").unwrap();
    let got: bool = lua
        .load("return os == nil and utf8 == nil and debug == nil and io ~= nil and coroutine ~= nil")
        .eval()
        .unwrap();
    assert!(got);
}

#[test]
fn filtering_drops_keyless_backends_and_refuses_an_empty_config() {
    let cfg = config::load(V1_YAML, true, &env(&["OPENAIKEY"]), "/g", None).unwrap();
    assert_eq!(cfg.backends.iter().map(|b| b.name.as_str()).collect::<Vec<_>>(), ["openai"]);
    assert!(cfg.lua_path.starts_with("/g/share/lib/genvm/lua/?.lua;"));
    let err = config::load(V1_YAML, true, &env(&[]), "/g", None).unwrap_err();
    assert!(err.contains("no backend left"), "{err}");
    let bad = config::load("backends: {a: {key: '${nope}'}}", true, &env(&[]), "/g", None).unwrap_err();
    assert!(bad.contains("unknown template variable"), "{bad}");
}

#[test]
fn rats_are_exact() {
    let half = Rat::new(1, 2).unwrap();
    assert_eq!(Rat::parse("0.5").unwrap(), half);
    assert_eq!(Rat::parse("-3/6").unwrap(), Rat::new(-1, 2).unwrap());
    assert!(Rat::new(1, 0).is_err());
    let (lua, _) = host(Profile::V2New);
    let got: String = lua
        .load("local h = rat.new(1, 2) return tostring(h + h) .. tostring(rat.new(7.9)) .. tostring(h < rat.zero)")
        .eval()
        .unwrap();
    assert_eq!(got, "17false");
}

#[test]
fn text_filters() {
    let f = |s: &str, names: &[&str]| filter_text(s, &names.iter().map(|n| n.to_string()).collect::<Vec<_>>());
    assert_eq!(f("\n  a\t\tb  \n\n\n\nc  ", &["NormalizeWS"]).unwrap(), "a b\n\nc");
    assert_eq!(f("\u{fb01}\u{200b}x", &["NFKC", "RmZeroWidth"]).unwrap(), "fix");
    assert!(f("x", &["Nope"]).is_err());
}

#[test]
fn async_host_calls_yield_through_mlua_and_fail_where_a_yield_cannot_cross_c() {
    let (lua, state) = host(Profile::V2New);
    assert!(run(&lua, "__dflt.sleep_seconds(1) return 1").is_ok());
    for code in [
        "table.sort({1, 2, 3}, function(a, b) __dflt.sleep_seconds(1) return a < b end)",
        "string.gsub('ab', '.', function(c) __dflt.sleep_seconds(1) return c end)",
    ] {
        let err = run(&lua, code).unwrap_err().to_string();
        assert!(err.contains("attempt to yield across a C-call boundary"), "{err}");
    }
    let sleeps = std::mem::take(state.lock().unwrap().rec()).sleeps;
    assert_eq!(sleeps.len(), 1);
}

#[test]
fn errors_are_opaque_and_decode_only_through_as_user_error() {
    let (lua, _) = host(Profile::V1);
    let got: String = lua
        .load(
            r#"
            local ok, e = pcall(__dflt.user_error, {causes = {"WHY"}, fatal = false, ctx = {}})
            local d = __dflt.as_user_error(e)
            local plain = __dflt.as_user_error("x")
            local bad_ok, bad = pcall(__dflt.user_error, {causes = {"WHY"}, fatal = false})
            return type(e) .. "|" .. d.causes[1] .. "|" .. tostring(plain) .. "|"
              .. tostring(__dflt.as_user_error(bad))
            "#,
        )
        .eval()
        .unwrap();
    assert_eq!(got, "userdata|WHY|nil|nil");
    let err = run(&lua, "__dflt.user_error({causes = {'X'}, fatal = true, ctx = {}})").unwrap_err();
    assert!(find::<ModuleError>(&err).is_some_and(|m| m.fatal));
}

#[test]
fn requests_are_checked_by_mlua_serde() {
    let (lua, state) = host(Profile::V1);
    let call = |prompt: &str| -> bool {
        let code = format!(
            "local p = {{ user_message = 'x', temperature = 0, images = {{}}, max_tokens = 10, \
             use_max_completion_tokens = false }} {prompt} \
             return pcall(__llm.exec_prompt_in_provider, {{ __ctx_llm = CTX }}, \
             {{ provider = 'openrouter', model = 'deepseek/deepseek-v3.2', format = 'text', prompt = p }})"
        );
        lua.globals().set("CTX", super::values::CtxPart { session: 1, llm: true }).unwrap();
        let f: Function = lua.load(code).into_function().unwrap();
        let r: mlua::MultiValue = block_on(lua.create_thread(f).unwrap().into_async(())).unwrap();
        r.into_iter().next() == Some(Value::Boolean(true))
    };
    assert!(call(""));
    assert!(call("p.bogus = 1 p.images = { a = 'x' }"));
    assert!(!call("p.max_tokens = 10.0"));
    assert!(!call("p.max_tokens = -1"));
    assert!(!call("p.images = nil"));
    assert!(!call("p.temperature = '0.5'"));
    let requests = std::mem::take(state.lock().unwrap().rec()).requests;
    assert_eq!(requests.len(), 6);
}

fn scratch(name: &str) -> String {
    let dir = std::env::temp_dir().join(format!("genvm-policy-mlua-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.to_string_lossy().into_owned()
}

fn with_lsqlite3(dir: &str) -> Lua {
    let lua = crate::sandbox::new_state("").unwrap();
    super::sqlite::install(&lua).unwrap();
    lua.globals().set("DIR", dir).unwrap();
    lua
}

#[test]
fn lsqlite3_answers_with_sqlites_result_codes() {
    let dir = scratch("codes");
    let lua = with_lsqlite3(&dir);
    let got: String = lua
        .load(r##"
            local sq = require("lsqlite3")
            local db = sq.open(DIR .. "/s.sqlite")
            local out = {}
            local function add(...)
                local t = table.pack(...)
                for i = 1, t.n do t[i] = tostring(t[i]) end
                out[#out + 1] = table.concat(t, ",", 1, t.n)
            end
            add(db:exec("CREATE TABLE t (k TEXT PRIMARY KEY, n INTEGER)"))
            add(db:exec("CREATE TABLE t (k TEXT)"), db:errmsg())
            add(select("#", db:busy_timeout(10)))
            local stmt, tail = db:prepare("INSERT INTO t VALUES (?, ?); rest")
            add(tail)
            add(pcall(stmt.bind_values, stmt, "a"))
            add(stmt:bind_values("a", 1), stmt:step(), stmt:reset())
            add(stmt:bind_values("a", 2), stmt:step(), db:errmsg())
            add(stmt:finalize(), pcall(stmt.step, stmt))
            local none, code = db:prepare("SELECT x FROM missing")
            add(none, code, db:errmsg())
            add(db:close(), pcall(db.exec, db, "SELECT 1"))
            local failed, code2, why = sq.open(DIR)
            add(failed, code2, why)
            return table.concat(out, "|")
        "##)
        .eval()
        .unwrap();
    let parts: Vec<&str> = got.split('|').collect();
    assert_eq!(parts[0], "0");
    assert_eq!(parts[1], "1,table t already exists");
    assert_eq!(parts[2], "0", "busy_timeout returns nothing");
    assert_eq!(parts[3], " rest");
    assert!(parts[4].starts_with("false") && parts[4].contains("incorrect number of parameters to bind (1 given, 2 to bind)"), "{}", parts[4]);
    assert_eq!(parts[5], "0,101,0");
    assert_eq!(parts[6], "0,19,UNIQUE constraint failed: t.k");
    // SQLite's finalize reports the statement's last failed step again.
    assert!(parts[7].starts_with("19,false") && parts[7].contains("closed sqlite3_vm"), "{}", parts[7]);
    assert_eq!(parts[8], "nil,1,no such table: missing");
    assert!(parts[9].starts_with("0,false") && parts[9].contains("closed sqlite database"), "{}", parts[9]);
    assert_eq!(parts[10], "nil,14,unable to open database file");
}

#[test]
fn closing_a_handle_finalizes_its_statements_and_rows_are_read_back() {
    let dir = scratch("close");
    let lua = with_lsqlite3(&dir);
    let got: String = lua
        .load(r##"
            local sq = require("lsqlite3")
            local db = sq.open(DIR .. "/stats.sqlite")
            db:exec("CREATE TABLE provider_stats (model TEXT PRIMARY KEY, errors INTEGER, input_tokens INTEGER, output_tokens INTEGER)")
            local stmt = db:prepare("INSERT INTO provider_stats VALUES (?, ?, ?, ?)")
            stmt:bind_values("b/m", 1, 2, 3) stmt:step() stmt:reset()
            stmt:bind_values("a/m", 0, 5, 6) stmt:step()
            local rc = db:close()
            local ok, err = pcall(stmt.reset, stmt)
            return rc .. "," .. tostring(ok) .. "," .. tostring(err)
        "##)
        .eval()
        .unwrap();
    assert!(got.starts_with("0,false"), "close is OK with a statement left open: {got}");
    let rows = super::sqlite::stats_rows(&format!("{dir}/stats.sqlite")).unwrap();
    assert_eq!(rows, serde_json::json!([
        {"model": "a/m", "errors": 0, "input_tokens": 5, "output_tokens": 6},
        {"model": "b/m", "errors": 1, "input_tokens": 2, "output_tokens": 3}]));
    assert_eq!(super::sqlite::stats_rows(&format!("{dir}/absent.sqlite")), None);
}
