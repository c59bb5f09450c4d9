//! The host's own checks; the cross-host comparison lives in tests/test_hook_scenarios.py.

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
