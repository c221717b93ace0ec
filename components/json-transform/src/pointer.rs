//! JSON Pointer (RFC 6901) parsing and the edits the transform steps need.

use serde_json::{Map, Value};

/// A parsed pointer: its reference tokens, unescaped.
pub struct Pointer(pub Vec<String>);

impl Pointer {
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty() {
            return Ok(Self(Vec::new()));
        }
        let Some(rest) = text.strip_prefix('/') else {
            return Err("a JSON Pointer is empty or starts with `/`".into());
        };
        rest.split('/')
            .map(unescape)
            .collect::<Result<_, _>>()
            .map(Self)
    }

    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }
}

fn unescape(token: &str) -> Result<String, String> {
    let mut out = String::with_capacity(token.len());
    let mut chars = token.chars();
    while let Some(c) = chars.next() {
        if c == '~' {
            match chars.next() {
                Some('0') => out.push('~'),
                Some('1') => out.push('/'),
                _ => return Err("`~` must be followed by `0` or `1`".into()),
            }
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

/// An array index token: digits without a leading zero (RFC 6901 section 4).
fn index(token: &str) -> Option<usize> {
    let ok = !token.is_empty()
        && token.bytes().all(|b| b.is_ascii_digit())
        && (token == "0" || !token.starts_with('0'));
    if ok { token.parse().ok() } else { None }
}

pub fn get_mut<'v>(value: &'v mut Value, tokens: &[String]) -> Option<&'v mut Value> {
    tokens.iter().try_fold(value, |v, t| match v {
        Value::Object(map) => map.get_mut(t),
        Value::Array(items) => index(t).and_then(|i| items.get_mut(i)),
        _ => None,
    })
}

/// Removes and returns the value at `tokens`; None when there is none (or at the root).
pub fn remove(value: &mut Value, tokens: &[String]) -> Option<Value> {
    let (last, parent) = tokens.split_last()?;
    match get_mut(value, parent)? {
        Value::Object(map) => map.shift_remove(last),
        Value::Array(items) => index(last)
            .filter(|&i| i < items.len())
            .map(|i| items.remove(i)),
        _ => None,
    }
}

/// Places `new` at `tokens` as JSON Patch `add` does (RFC 6902 section 4.1: an array
/// index inserts, `-` appends, an object member is set), creating missing parent objects.
pub fn add(value: &mut Value, tokens: &[String], new: Value) -> Result<(), String> {
    let Some((last, parents)) = tokens.split_last() else {
        *value = new;
        return Ok(());
    };
    let mut target = value;
    for token in parents {
        target = match target {
            Value::Object(map) => map
                .entry(token.clone())
                .or_insert_with(|| Value::Object(Map::new())),
            Value::Array(items) => match index(token) {
                Some(i) if i < items.len() => &mut items[i],
                _ => return Err(format!("`{token}` is not an index of the array there")),
            },
            _ => return Err(format!("the path goes through a scalar at `{token}`")),
        };
    }
    match target {
        Value::Object(map) => {
            map.insert(last.clone(), new);
        }
        Value::Array(items) if last == "-" => items.push(new),
        Value::Array(items) => match index(last) {
            Some(i) if i <= items.len() => items.insert(i, new),
            _ => return Err(format!("`{last}` is not an index of the array there")),
        },
        _ => return Err(format!("the path ends inside a scalar at `{last}`")),
    }
    Ok(())
}

/// The members selected by a set of pointers, as a tree of tokens. A node whose
/// `whole` flag is set keeps its entire value.
#[derive(Default)]
pub struct Selection {
    whole: bool,
    children: Vec<(String, Selection)>,
}

impl Selection {
    pub fn insert(&mut self, tokens: &[String]) {
        if self.whole {
            return;
        }
        match tokens.split_first() {
            None => {
                self.whole = true;
                self.children.clear();
            }
            Some((first, rest)) => {
                let pos = match self.children.iter().position(|(t, _)| t == first) {
                    Some(pos) => pos,
                    None => {
                        self.children.push((first.clone(), Selection::default()));
                        self.children.len() - 1
                    }
                };
                self.children[pos].1.insert(rest);
            }
        }
    }

    /// Keeps only the selected parts of `value`, in the document's order; None when
    /// nothing selected is present.
    pub fn prune(&self, value: Value) -> Option<Value> {
        if self.whole {
            return Some(value);
        }
        let child = |token: &str| {
            self.children
                .iter()
                .find(|(t, _)| t == token)
                .map(|(_, s)| s)
        };
        match value {
            Value::Object(map) => {
                let kept: Map<String, Value> = map
                    .into_iter()
                    .filter_map(|(k, v)| child(&k).and_then(|s| s.prune(v)).map(|v| (k, v)))
                    .collect();
                (!kept.is_empty()).then_some(Value::Object(kept))
            }
            Value::Array(items) => {
                let kept: Vec<Value> = items
                    .into_iter()
                    .enumerate()
                    .filter_map(|(i, v)| child(&i.to_string()).and_then(|s| s.prune(v)))
                    .collect();
                (!kept.is_empty()).then_some(Value::Array(kept))
            }
            _ => None,
        }
    }
}
