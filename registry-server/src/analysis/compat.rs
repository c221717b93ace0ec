//! Semver compatibility of two versions of a WIT package: every interface, function,
//! type and world of the older version must still be there, unchanged, in the newer
//! one. Additions are compatible; removals and changes are not, and each is named.
//!
//! Types are compared by their structure rendered to text, with named types referred to
//! by `interface.name`, so that two independently decoded packages can be compared.
//! Adding a case to an enum, variant or flags changes the type and is breaking: a
//! consumer of the older version cannot handle the new case.

use std::collections::BTreeMap;

use wit_parser::{
    Function, InterfaceId, PackageId, Resolve, Type, TypeDefKind, TypeId, TypeOwner, WorldItem,
};

pub use wharf_types::views::Change;

/// A package's API: every item by a stable name, with its rendered form.
struct Api(BTreeMap<String, String>);

impl Api {
    fn of(resolve: &Resolve, pkg: PackageId) -> Self {
        let mut items = BTreeMap::new();
        let package = &resolve.packages[pkg];
        for (name, id) in &package.interfaces {
            items.insert(format!("interface {name}"), String::new());
            let iface = &resolve.interfaces[*id];
            for (tname, ty) in &iface.types {
                items.insert(format!("type {name}.{tname}"), render_def(resolve, *ty));
            }
            for (fname, func) in &iface.functions {
                items.insert(
                    format!("function {name}.{fname}"),
                    render_func(resolve, func),
                );
            }
        }
        for (name, id) in &package.worlds {
            items.insert(format!("world {name}"), String::new());
            let world = &resolve.worlds[*id];
            for (dir, map) in [("import", &world.imports), ("export", &world.exports)] {
                for (key, item) in map {
                    let key = resolve.name_world_key(key);
                    let key = key.split('@').next().unwrap_or(&key).to_owned();
                    let form = match item {
                        WorldItem::Function(f) => render_func(resolve, f),
                        WorldItem::Type { id, .. } => render_def(resolve, *id),
                        WorldItem::Interface { id, .. } => interface_name(resolve, *id),
                    };
                    items.insert(format!("world {name} {dir} {key}"), form);
                }
            }
        }
        Api(items)
    }
}

/// The changes that make `new` incompatible with `old`; empty when compatible.
pub fn breaking_changes(
    old: &Resolve,
    old_pkg: PackageId,
    new: &Resolve,
    new_pkg: PackageId,
) -> Vec<Change> {
    let (old, new) = (Api::of(old, old_pkg), Api::of(new, new_pkg));
    let mut changes = Vec::new();
    for (item, before) in &old.0 {
        match new.0.get(item) {
            None => changes.push(Change {
                item: item.clone(),
                change: "removed".into(),
                before: before.clone(),
                after: None,
            }),
            Some(after) if after != before => changes.push(Change {
                item: item.clone(),
                change: "changed".into(),
                before: before.clone(),
                after: Some(after.clone()),
            }),
            Some(_) => {}
        }
    }
    changes
}

/// The items `new` has that `old` lacks, as changes named `added` (with the new form
/// in `after`): what a version diff shows besides the breaking changes.
pub fn added_items(
    old: &Resolve,
    old_pkg: PackageId,
    new: &Resolve,
    new_pkg: PackageId,
) -> Vec<Change> {
    let (old, new) = (Api::of(old, old_pkg), Api::of(new, new_pkg));
    new.0
        .iter()
        .filter(|(item, _)| !old.0.contains_key(*item))
        .map(|(item, after)| Change {
            item: item.clone(),
            change: "added".into(),
            before: String::new(),
            after: Some(after.clone()),
        })
        .collect()
}

/// Decodes a binary WIT package; None when the bytes are not one.
pub fn decode_wit(bytes: &[u8]) -> Option<(Resolve, PackageId)> {
    match wit_component::decode(bytes).ok()? {
        wit_component::DecodedWasm::WitPackage(resolve, pkg) => Some((resolve, pkg)),
        wit_component::DecodedWasm::Component(..) => None,
    }
}

fn interface_name(resolve: &Resolve, id: InterfaceId) -> String {
    let iface = &resolve.interfaces[id];
    match (iface.package, &iface.name) {
        (Some(pkg), Some(name)) => {
            let p = &resolve.packages[pkg].name;
            format!("{}:{}/{name}", p.namespace, p.name)
        }
        _ => "interface".into(),
    }
}

fn render_func(resolve: &Resolve, f: &Function) -> String {
    let params: Vec<String> = f
        .params
        .iter()
        .map(|p| format!("{}: {}", p.name, render(resolve, &p.ty)))
        .collect();
    match &f.result {
        Some(ty) => format!("func({}) -> {}", params.join(", "), render(resolve, ty)),
        None => format!("func({})", params.join(", ")),
    }
}

/// A type as it appears in a signature: named types by `owner.name`.
fn render(resolve: &Resolve, ty: &Type) -> String {
    match ty {
        Type::Bool => "bool".into(),
        Type::U8 => "u8".into(),
        Type::U16 => "u16".into(),
        Type::U32 => "u32".into(),
        Type::U64 => "u64".into(),
        Type::S8 => "s8".into(),
        Type::S16 => "s16".into(),
        Type::S32 => "s32".into(),
        Type::S64 => "s64".into(),
        Type::F32 => "f32".into(),
        Type::F64 => "f64".into(),
        Type::Char => "char".into(),
        Type::String => "string".into(),
        Type::ErrorContext => "error-context".into(),
        Type::Id(id) => {
            let def = &resolve.types[*id];
            match &def.name {
                Some(name) => match def.owner {
                    TypeOwner::Interface(i) => match &resolve.interfaces[i].name {
                        Some(iname) => format!("{iname}.{name}"),
                        None => name.clone(),
                    },
                    _ => name.clone(),
                },
                None => render_kind(resolve, &def.kind),
            }
        }
    }
}

/// A named type's definition.
fn render_def(resolve: &Resolve, id: TypeId) -> String {
    render_kind(resolve, &resolve.types[id].kind)
}

fn render_kind(resolve: &Resolve, kind: &TypeDefKind) -> String {
    let r = |t: &Type| render(resolve, t);
    let opt = |t: &Option<Type>| t.as_ref().map(r).unwrap_or_else(|| "_".into());
    match kind {
        TypeDefKind::Record(rec) => {
            let fields: Vec<String> = rec
                .fields
                .iter()
                .map(|f| format!("{}: {}", f.name, r(&f.ty)))
                .collect();
            format!("record {{ {} }}", fields.join(", "))
        }
        TypeDefKind::Resource => "resource".into(),
        TypeDefKind::Handle(wit_parser::Handle::Own(id)) => format!("own<{}>", r(&Type::Id(*id))),
        TypeDefKind::Handle(wit_parser::Handle::Borrow(id)) => {
            format!("borrow<{}>", r(&Type::Id(*id)))
        }
        TypeDefKind::Flags(flags) => {
            let names: Vec<&str> = flags.flags.iter().map(|f| f.name.as_str()).collect();
            format!("flags {{ {} }}", names.join(", "))
        }
        TypeDefKind::Tuple(t) => format!(
            "tuple<{}>",
            t.types.iter().map(r).collect::<Vec<_>>().join(", ")
        ),
        TypeDefKind::Variant(v) => {
            let cases: Vec<String> = v
                .cases
                .iter()
                .map(|c| match &c.ty {
                    Some(t) => format!("{}({})", c.name, r(t)),
                    None => c.name.clone(),
                })
                .collect();
            format!("variant {{ {} }}", cases.join(", "))
        }
        TypeDefKind::Enum(e) => {
            let cases: Vec<&str> = e.cases.iter().map(|c| c.name.as_str()).collect();
            format!("enum {{ {} }}", cases.join(", "))
        }
        TypeDefKind::Option(t) => format!("option<{}>", r(t)),
        TypeDefKind::Result(res) => format!("result<{}, {}>", opt(&res.ok), opt(&res.err)),
        TypeDefKind::List(t) => format!("list<{}>", r(t)),
        TypeDefKind::Map(k, v) => format!("map<{}, {}>", r(k), r(v)),
        TypeDefKind::FixedLengthList(t, n) => format!("list<{}, {n}>", r(t)),
        TypeDefKind::Future(t) => format!("future<{}>", opt(t)),
        TypeDefKind::Stream(t) => format!("stream<{}>", opt(t)),
        TypeDefKind::Type(t) => r(t),
        TypeDefKind::Unknown => "unknown".into(),
    }
}
