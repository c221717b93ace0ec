//! `wharf run --invoke`: call one exported function of a component with arguments
//! written in WAVE (the WebAssembly Value Encoding, as `wasmtime run --invoke` takes
//! them) and print its results in WAVE.
//!
//! A function is named as WAVE function calls name it: `canonicalize(...)` for a
//! function exported at the top level or by exactly one exported interface,
//! `transformer.canonicalize(...)` or `wharf:transform/transformer.canonicalize(...)`
//! to pick the interface, with `@1.0.0` after the function to pick its version.

use anyhow::{Context, bail};
use wasmtime::Engine;
use wasmtime::component::types::ComponentItem;
use wasmtime::component::wasm_wave::untyped::UntypedFuncCall;
use wasmtime::component::{Component, Val};
use wharf_host::{Capabilities, Limits, Runtime};

/// The export a call names: `(interface export name, function name)`; no interface
/// for a function exported at the top level.
#[derive(Debug, PartialEq)]
struct Target {
    interface: Option<String>,
    function: String,
}

/// Calls `call` on `component` in `runtime` (its engine and compiled-code cache, the
/// same as `--http` uses), in a store granting only `capabilities` and bound by
/// `limits`, and returns each result in WAVE.
pub async fn invoke(
    runtime: &Runtime,
    component: &[u8],
    call: &str,
    capabilities: Capabilities,
    limits: &Limits,
) -> anyhow::Result<Vec<String>> {
    let parsed = UntypedFuncCall::parse(call).map_err(|e| {
        anyhow::anyhow!("`{call}` is not a WAVE function call such as `f(1, \"two\")`: {e}")
    })?;
    let engine = runtime.engine();
    let (component, _) = runtime.load(component)?;
    let target = find(engine, &component, parsed.name())?;

    let ty = export_func_type(engine, &component, &target)?;
    let param_types: Vec<_> = ty.params().map(|(_, t)| t).collect();
    let params: Vec<Val> = parsed.to_wasm_params(&param_types).map_err(|e| {
        let expected: Vec<String> = ty
            .params()
            .map(|(name, t)| format!("{name}: {}", type_name(&t)))
            .collect();
        anyhow::anyhow!(
            "the arguments do not fit `{}({})`: {e}",
            target.function,
            expected.join(", ")
        )
    })?;
    let mut results = vec![Val::Bool(false); ty.results().len()];

    let linker = wharf_host::linker(engine)?;
    let mut store = runtime.store(&std::sync::Arc::new(capabilities), limits)?;
    let instance = linker
        .instantiate_async(&mut store, &component)
        .await
        .map_err(|e| anyhow::anyhow!("instantiating the component: {e:?}"))?;
    let index = match &target.interface {
        Some(interface) => {
            let parent = instance
                .get_export_index(&mut store, None, interface)
                .context("the interface is not exported")?;
            instance.get_export_index(&mut store, Some(&parent), &target.function)
        }
        None => instance.get_export_index(&mut store, None, &target.function),
    }
    .context("the function is not exported")?;
    let func = instance
        .get_func(&mut store, index)
        .context("the export is not a function")?;
    func.call_async(&mut store, &params, &mut results)
        .await
        .map_err(|e| {
            if e.downcast_ref::<wasmtime::Trap>() == Some(&wasmtime::Trap::Interrupt) {
                anyhow::anyhow!(
                    "`{}` ran past its deadline ({:?}; --deadline sets it)",
                    target.function,
                    limits.deadline
                )
            } else {
                anyhow::anyhow!("`{}` trapped: {e:?}", target.function)
            }
        })?;
    results
        .iter()
        .map(|v| v.to_wave().map_err(|e| anyhow::anyhow!("{e:?}")))
        .collect()
}

/// Finds the function a WAVE call names among the component's exports.
fn find(engine: &Engine, component: &Component, name: &str) -> anyhow::Result<Target> {
    let (path, version) = match name.rsplit_once('@') {
        Some((path, version)) => (path, Some(version)),
        None => (name, None),
    };
    let (interface, function) = match path.rsplit_once('.') {
        Some((interface, function)) => (Some(interface), function),
        None => (None, path),
    };
    let candidates = functions(engine, component);
    let matching: Vec<&Target> = candidates
        .iter()
        .filter(|t| t.function == function)
        .filter(|t| match (interface, &t.interface) {
            (None, _) => true,
            (Some(wanted), Some(exported)) => {
                let unversioned = exported.split('@').next().unwrap_or(exported);
                unversioned == wanted || unversioned.rsplit('/').next() == Some(wanted)
            }
            (Some(_), None) => false,
        })
        .filter(|t| match (version, &t.interface) {
            (None, _) => true,
            (Some(v), Some(exported)) => exported.ends_with(&format!("@{v}")),
            (Some(_), None) => false,
        })
        .collect();
    match matching.as_slice() {
        [one] => Ok(Target {
            interface: one.interface.clone(),
            function: one.function.clone(),
        }),
        [] => bail!(
            "the component exports no function `{name}`; it exports:\n{}",
            list(&candidates)
        ),
        many => bail!(
            "`{name}` names {} functions; qualify it with its interface:\n{}",
            many.len(),
            list(
                &many
                    .iter()
                    .map(|t| Target {
                        interface: t.interface.clone(),
                        function: t.function.clone(),
                    })
                    .collect::<Vec<_>>()
            )
        ),
    }
}

/// Every function the component exports, at the top level or in an interface.
fn functions(engine: &Engine, component: &Component) -> Vec<Target> {
    let mut out = Vec::new();
    for (name, export) in component.component_type().exports(engine) {
        match export.ty {
            ComponentItem::ComponentFunc(_) => out.push(Target {
                interface: None,
                function: name.to_owned(),
            }),
            ComponentItem::ComponentInstance(instance) => {
                for (function, item) in instance.exports(engine) {
                    if let ComponentItem::ComponentFunc(_) = item.ty {
                        out.push(Target {
                            interface: Some(name.to_owned()),
                            function: function.to_owned(),
                        });
                    }
                }
            }
            _ => {}
        }
    }
    out
}

fn export_func_type(
    engine: &Engine,
    component: &Component,
    target: &Target,
) -> anyhow::Result<wasmtime::component::types::ComponentFunc> {
    let ty = component.component_type();
    let item = match &target.interface {
        Some(interface) => match ty.get_export(engine, interface).map(|e| e.ty) {
            Some(ComponentItem::ComponentInstance(instance)) => {
                instance.get_export(engine, &target.function).map(|e| e.ty)
            }
            _ => None,
        },
        None => ty.get_export(engine, &target.function).map(|e| e.ty),
    };
    match item {
        Some(ComponentItem::ComponentFunc(func)) => Ok(func),
        _ => bail!("`{}` is not an exported function", target.function),
    }
}

/// `  wharf:transform/transformer@1.0.0.canonicalize`, one per line, in WAVE's form.
fn list(targets: &[Target]) -> String {
    targets
        .iter()
        .map(|t| match &t.interface {
            Some(interface) => match interface.split_once('@') {
                Some((path, version)) => format!("  {path}.{}@{version}", t.function),
                None => format!("  {interface}.{}", t.function),
            },
            None => format!("  {}", t.function),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A parameter type as WIT writes it, for error messages: `list<u8>`,
/// `enum { gzip, deflate }`, `option<u32>`.
fn type_name(ty: &wasmtime::component::Type) -> String {
    use wasmtime::component::Type;
    let join = |items: Vec<String>| items.join(", ");
    match ty {
        Type::Bool => "bool".into(),
        Type::S8 => "s8".into(),
        Type::U8 => "u8".into(),
        Type::S16 => "s16".into(),
        Type::U16 => "u16".into(),
        Type::S32 => "s32".into(),
        Type::U32 => "u32".into(),
        Type::S64 => "s64".into(),
        Type::U64 => "u64".into(),
        Type::Float32 => "f32".into(),
        Type::Float64 => "f64".into(),
        Type::Char => "char".into(),
        Type::String => "string".into(),
        Type::List(list) => format!("list<{}>", type_name(&list.ty())),
        Type::Option(option) => format!("option<{}>", type_name(&option.ty())),
        Type::Result(result) => format!(
            "result<{}, {}>",
            result.ok().map_or("_".into(), |t| type_name(&t)),
            result.err().map_or("_".into(), |t| type_name(&t))
        ),
        Type::Tuple(tuple) => format!(
            "tuple<{}>",
            join(tuple.types().map(|t| type_name(&t)).collect())
        ),
        Type::Record(record) => format!(
            "record {{ {} }}",
            join(
                record
                    .fields()
                    .map(|f| format!("{}: {}", f.name, type_name(&f.ty)))
                    .collect()
            )
        ),
        Type::Variant(variant) => format!(
            "variant {{ {} }}",
            join(
                variant
                    .cases()
                    .map(|c| match c.ty {
                        Some(t) => format!("{}({})", c.name, type_name(&t)),
                        None => c.name.to_owned(),
                    })
                    .collect()
            )
        ),
        Type::Enum(e) => format!(
            "enum {{ {} }}",
            join(e.names().map(str::to_owned).collect())
        ),
        Type::Flags(f) => format!(
            "flags {{ {} }}",
            join(f.names().map(str::to_owned).collect())
        ),
        Type::Own(_) | Type::Borrow(_) => "a resource (not expressible in WAVE)".into(),
        _ => "an async value (not expressible in WAVE)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets() -> Vec<Target> {
        vec![
            Target {
                interface: Some("wharf:transform/transformer@1.0.0".into()),
                function: "canonicalize".into(),
            },
            Target {
                interface: None,
                function: "run".into(),
            },
        ]
    }

    #[test]
    fn functions_are_listed_the_way_wave_names_them() {
        assert_eq!(
            list(&targets()),
            "  wharf:transform/transformer.canonicalize@1.0.0\n  run"
        );
    }
}
