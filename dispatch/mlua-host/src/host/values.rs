//! Host values a hook can hold but not look into (GENVM.md §4): module errors, the budget
//! exhaustion signal, the session handles on `ctx`, and the newest V2 line's `rat`.

use mlua::{Error, FromLua, Lua, MetaMethod, Result, UserData, UserDataMethods, Value};
use std::fmt;

/// A GenVM module error: raised as an mlua external error, so Lua sees opaque error
/// userdata that only `__dflt.as_user_error` decodes.
#[derive(Debug, Clone)]
pub struct ModuleError {
    pub causes: Vec<String>,
    pub fatal: bool,
    pub ctx: serde_json::Value,
}

impl fmt::Display for ModuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ModuleError {{ causes: {:?}, fatal: {} }}", self.causes, self.fatal)
    }
}

impl std::error::Error for ModuleError {}

/// Raised by newest-V2 `__llm.exhaust()`: the call ends with empty text and the whole
/// remaining budget consumed.
#[derive(Debug)]
pub struct Exhausted;

impl fmt::Display for Exhausted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("budget exhausted")
    }
}

impl std::error::Error for Exhausted {}

/// The module error or exhaustion inside an mlua error, looking through callback wrappers.
pub fn find<T: std::error::Error + 'static>(err: &Error) -> Option<&T> {
    match err {
        Error::CallbackError { cause, .. } => find(cause),
        Error::WithContext { cause, .. } => find(cause),
        other => other.downcast_ref::<T>(),
    }
}

/// `ctx.__ctx_dflt` / `ctx.__ctx_llm`: which session a host call belongs to.
#[derive(Debug, Clone, Copy)]
pub struct CtxPart {
    pub session: u64,
    pub llm: bool,
}

impl UserData for CtxPart {}

fn gcd(a: i128, b: i128) -> i128 {
    let (mut a, mut b) = (a.abs(), b.abs());
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// An exact rational (newest V2 `rat`); constructors truncate floats, as GenVM's do.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rat {
    pub num: i128,
    pub den: i128,
}

impl Rat {
    pub fn new(num: i128, den: i128) -> Result<Rat> {
        if den == 0 {
            return Err(Error::runtime("rat: denominator cannot be zero"));
        }
        let g = gcd(num, den).max(1);
        let sign = if den < 0 { -1 } else { 1 };
        Ok(Rat { num: sign * num / g, den: sign * den / g })
    }

    pub fn int(v: i128) -> Rat {
        Rat { num: v, den: 1 }
    }

    /// A decimal, `a/b` or integer text.
    pub fn parse(text: &str) -> Result<Rat> {
        let bad = || Error::runtime(format!("rat: cannot parse `{text}`"));
        let t = text.trim();
        if let Some((a, b)) = t.split_once('/') {
            return Rat::new(a.trim().parse().map_err(|_| bad())?, b.trim().parse().map_err(|_| bad())?);
        }
        if let Some((whole, frac)) = t.split_once('.') {
            let digits = frac.len() as u32;
            let negative = whole.starts_with('-');
            let w: i128 = if whole.is_empty() || whole == "-" { 0 } else { whole.parse().map_err(|_| bad())? };
            let f: i128 = if frac.is_empty() { 0 } else { frac.parse().map_err(|_| bad())? };
            let scale = 10i128.checked_pow(digits).ok_or_else(bad)?;
            let num = w * scale + if negative { -f } else { f };
            return Rat::new(num, scale);
        }
        Ok(Rat::int(t.parse().map_err(|_| bad())?))
    }

    fn cmp(&self, other: &Rat) -> std::cmp::Ordering {
        (self.num * other.den).cmp(&(other.num * self.den))
    }

    fn floor(&self) -> i128 {
        self.num.div_euclid(self.den)
    }
}

impl fmt::Display for Rat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.den == 1 {
            write!(f, "{}", self.num)
        } else {
            write!(f, "{}/{}", self.num, self.den)
        }
    }
}

/// A rat from a rat, an integer or a float (truncated).
pub fn rat_of(value: &Value) -> Result<Rat> {
    match value {
        Value::UserData(ud) => ud.borrow::<Rat>().map(|r| *r),
        Value::Integer(i) => Ok(Rat::int(*i as i128)),
        Value::Number(n) if n.is_finite() => Ok(Rat::int(n.trunc() as i128)),
        _ => Err(Error::runtime("expected Rat or number")),
    }
}

impl FromLua for Rat {
    fn from_lua(value: Value, _: &Lua) -> Result<Rat> {
        rat_of(&value)
    }
}

fn arith(op: &str, a: Rat, b: Rat) -> Result<Rat> {
    match op {
        "add" => Rat::new(a.num * b.den + b.num * a.den, a.den * b.den),
        "sub" => Rat::new(a.num * b.den - b.num * a.den, a.den * b.den),
        "mul" => Rat::new(a.num * b.num, a.den * b.den),
        "div" => Rat::new(a.num * b.den, a.den * b.num),
        _ => {
            let q = Rat::new(a.num * b.den, a.den * b.num)?.floor();
            arith("sub", a, Rat::new(q * b.num, b.den)?)
        }
    }
}

impl UserData for Rat {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        for (meta, op) in [
            (MetaMethod::Add, "add"),
            (MetaMethod::Sub, "sub"),
            (MetaMethod::Mul, "mul"),
            (MetaMethod::Div, "div"),
            (MetaMethod::Mod, "mod"),
        ] {
            methods.add_meta_function(meta, move |_, (a, b): (Value, Value)| {
                arith(op, rat_of(&a)?, rat_of(&b)?)
            });
        }
        methods.add_meta_function(MetaMethod::Unm, |_, a: Rat| Ok(Rat { num: -a.num, den: a.den }));
        methods.add_meta_function(MetaMethod::Eq, |_, (a, b): (Value, Value)| {
            Ok(matches!((rat_of(&a), rat_of(&b)), (Ok(x), Ok(y)) if x == y))
        });
        methods.add_meta_function(MetaMethod::Lt, |_, (a, b): (Rat, Rat)| Ok(a.cmp(&b).is_lt()));
        methods.add_meta_function(MetaMethod::Le, |_, (a, b): (Rat, Rat)| Ok(a.cmp(&b).is_le()));
        methods.add_meta_method(MetaMethod::ToString, |_, r, ()| Ok(r.to_string()));
        methods.add_method("numer", |_, r, ()| Ok(r.num.to_string()));
        methods.add_method("denom", |_, r, ()| Ok(r.den.to_string()));
        methods.add_method("to_float", |_, r, ()| Ok(r.num as f64 / r.den as f64));
        methods.add_method("abs", |_, r, ()| Rat::new(r.num.abs(), r.den));
        methods.add_method("sign", |_, r, ()| Ok(r.num.signum() as i64));
        methods.add_method("is_zero", |_, r, ()| Ok(r.num == 0));
        methods.add_method("is_integer", |_, r, ()| Ok(r.den == 1));
        methods.add_method("floor", |_, r, ()| Ok(Rat::int(r.floor())));
        methods.add_method("ceil", |_, r, ()| Ok(Rat::int(-(Rat { num: -r.num, den: r.den }).floor())));
        methods.add_method("trunc", |_, r, ()| Ok(Rat::int(r.num / r.den)));
        methods.add_method("pow", |_, r, exp: i32| {
            if r.num == 0 && exp <= 0 {
                return Err(Error::runtime("zero raised to a non-positive power"));
            }
            let (n, d) = (r.num.pow(exp.unsigned_abs()), r.den.pow(exp.unsigned_abs()));
            if exp < 0 { Rat::new(d, n) } else { Rat::new(n, d) }
        });
    }
}

