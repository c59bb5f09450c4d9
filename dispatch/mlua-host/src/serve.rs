//! A long-lived state answering framed calls on stdin/stdout, so Python drives mlua like a
//! lupa state: the first frame is a Lua chunk returning a table of functions, each later
//! frame names one of them and gives its byte-string arguments.
//!
//! A frame is a u32 field count then each field as u32 length and bytes (little-endian).
//! A reply is one status byte (0 the function's string result, 1 an error text) then a
//! u32 length and bytes.

use crate::sandbox;
use mlua::{Function, Lua, MultiValue, Table, Value};
use std::io::{self, BufReader, BufWriter, Read, Write};

fn read_u32(input: &mut impl Read) -> io::Result<Option<u32>> {
    let mut buf = [0u8; 4];
    match input.read_exact(&mut buf) {
        Ok(()) => Ok(Some(u32::from_le_bytes(buf))),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(None),
        Err(e) => Err(e),
    }
}

fn read_frame(input: &mut impl Read) -> io::Result<Option<Vec<Vec<u8>>>> {
    let Some(count) = read_u32(input)? else { return Ok(None) };
    let mut fields = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let len = read_u32(input)?.ok_or(io::ErrorKind::UnexpectedEof)?;
        let mut field = vec![0u8; len as usize];
        input.read_exact(&mut field)?;
        fields.push(field);
    }
    Ok(Some(fields))
}

fn reply(out: &mut impl Write, status: u8, body: &[u8]) -> io::Result<()> {
    out.write_all(&[status])?;
    out.write_all(&(body.len() as u32).to_le_bytes())?;
    out.write_all(body)?;
    out.flush()
}

fn call(lua: &Lua, functions: &Table, fields: Vec<Vec<u8>>) -> mlua::Result<Vec<u8>> {
    let mut fields = fields.into_iter();
    let name = fields.next().ok_or_else(|| mlua::Error::runtime("a frame names no function"))?;
    let function: Function = functions.get(lua.create_string(&name)?)?;
    let args = fields.map(|f| lua.create_string(&f).map(Value::String));
    let result: Value = function.call(args.collect::<mlua::Result<MultiValue>>()?)?;
    match result {
        Value::String(s) => Ok(s.as_bytes().to_vec()),
        other => Err(mlua::Error::runtime(format!("the function returned a {}", other.type_name()))),
    }
}

/// Serve frames until stdin closes; the Lua runtime root is `dispatch`.
pub fn serve(dispatch: &str) -> io::Result<()> {
    let lua = sandbox::new_state(&sandbox::root_path(dispatch)).map_err(io::Error::other)?;
    let mut input = BufReader::new(io::stdin().lock());
    let mut out = BufWriter::new(io::stdout().lock());
    let Some(first) = read_frame(&mut input)? else { return Ok(()) };
    let source = first.into_iter().next().unwrap_or_default();
    let functions: Table = match lua.load(source).set_name("=driver").eval() {
        Ok(t) => {
            reply(&mut out, 0, b"")?;
            t
        }
        Err(e) => return reply(&mut out, 1, e.to_string().as_bytes()),
    };
    while let Some(fields) = read_frame(&mut input)? {
        match call(&lua, &functions, fields) {
            Ok(bytes) => reply(&mut out, 0, &bytes)?,
            Err(e) => reply(&mut out, 1, e.to_string().as_bytes())?,
        }
    }
    Ok(())
}
