//! The composition graph of a deployable as SVG, drawn on the server: the root on the
//! left (or, on a phone, at the top), each plug to the right of (below) the component
//! whose import it fills, an arrow from importer to plug labelled with the import. Plain SVG with presentation attributes,
//! so it renders inline in a page and on its own (`graph.svg`). Every element is
//! closed (`path ... {}`): maud writes `path ...;` as an HTML void tag, which in SVG
//! stays open and swallows what follows.

use std::collections::{BTreeMap, HashMap, HashSet};

use maud::{Markup, html};

use crate::service::browse::{Deployable, Part};

const BOX_W: f64 = 236.0;
const BOX_H: f64 = 58.0;
const COL_GAP: f64 = 220.0;
const ROW_GAP: f64 = 22.0;
const INDENT: f64 = 36.0;
const TALL_STEP: f64 = BOX_H + 34.0;
const PAD: f64 = 16.0;

/// How the graph is laid out: wide for screens (columns by depth, arrows labelled
/// beside the plug), tall for phones (an indented tree, labels above each plug).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    Wide,
    Tall,
}

impl Shape {
    fn name(self) -> &'static str {
        match self {
            Shape::Wide => "wide",
            Shape::Tall => "tall",
        }
    }
}

struct Placed<'a> {
    part: &'a Part,
    x: f64,
    y: f64,
}

/// Places every part. Wide: depth picks the column, leaves take the next free row and
/// a parent sits level with the middle of its children. Tall: one row per part in
/// depth-first order, indented by depth.
///
/// Linear in the number of parts whatever the provenance says: each part is placed
/// once, and a key that several parts repeat gives its children to the first of them
/// only (walking them again under every copy is exponential in the nesting).
fn layout(d: &Deployable, shape: Shape) -> Vec<Placed<'_>> {
    let mut children: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, p) in d.parts.iter().enumerate() {
        if let Some(parent) = p.constituent.parent_key() {
            children.entry(parent).or_default().push(i);
        }
    }
    struct Walk<'a> {
        d: &'a Deployable,
        children: HashMap<String, Vec<usize>>,
        placed: Vec<bool>,
        rows: Vec<f64>,
        next_leaf: f64,
        order: Vec<usize>,
    }
    impl Walk<'_> {
        fn place(&mut self, i: usize) {
            if std::mem::replace(&mut self.placed[i], true) {
                return;
            }
            self.order.push(i);
            // Taken, not cloned: the next part with this key finds no children.
            let kids: Vec<usize> = self
                .children
                .remove(&self.d.parts[i].constituent.key)
                .unwrap_or_default()
                .into_iter()
                .filter(|&k| !self.placed[k])
                .collect();
            if kids.is_empty() {
                self.rows[i] = self.next_leaf;
                self.next_leaf += 1.0;
                return;
            }
            for &k in &kids {
                self.place(k);
            }
            self.rows[i] = (self.rows[kids[0]] + self.rows[kids[kids.len() - 1]]) / 2.0;
        }
    }
    let mut walk = Walk {
        d,
        children,
        placed: vec![false; d.parts.len()],
        rows: vec![0.0; d.parts.len()],
        next_leaf: 0.0,
        order: Vec::new(),
    };
    // Roots: the root, and any part whose parent is missing from the provenance.
    let keys: HashSet<&str> = d.parts.iter().map(|p| p.constituent.key.as_str()).collect();
    for (i, p) in d.parts.iter().enumerate() {
        let orphan = p
            .constituent
            .parent_key()
            .is_none_or(|k| !keys.contains(k.as_str()));
        if orphan {
            walk.place(i);
        }
    }
    // A part whose parent chain never reaches a root is drawn as a root of its own.
    for i in 0..d.parts.len() {
        walk.place(i);
    }
    let depth = |part: &Part| part.constituent.key.matches("plugs.\"").count() as f64;
    match shape {
        Shape::Wide => d
            .parts
            .iter()
            .zip(walk.rows)
            .map(|(part, row)| Placed {
                part,
                x: PAD + depth(part) * (BOX_W + COL_GAP),
                y: PAD + 8.0 + row * (BOX_H + ROW_GAP),
            })
            .collect(),
        Shape::Tall => walk
            .order
            .iter()
            .enumerate()
            .map(|(row, &i)| Placed {
                part: &d.parts[i],
                x: PAD + depth(&d.parts[i]) * INDENT,
                y: PAD + row as f64 * TALL_STEP,
            })
            .collect(),
    }
}

/// The label on the arrow into a plug: the import it fills, with the version its
/// export carries (`wharf:compression@1.1.0`).
fn edge_label(part: &Part) -> String {
    let key = part.constituent.plugs_into().unwrap_or_default();
    let version = part
        .fills
        .first()
        .and_then(|f| f.split_once('@'))
        .map(|(_, v)| v);
    match version {
        Some(v) => format!("{key}@{v}"),
        None => key,
    }
}

fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let cut: String = text.chars().take(max - 1).collect();
        format!("{cut}…")
    }
}

/// The graph as an `<svg>` element.
pub fn svg(d: &Deployable, shape: Shape) -> Markup {
    let placed = layout(d, shape);
    let by_key: BTreeMap<&str, &Placed> = placed
        .iter()
        .map(|p| (p.part.constituent.key.as_str(), p))
        .collect();
    let width = placed.iter().map(|p| p.x + BOX_W).fold(0.0, f64::max) + PAD;
    let height = placed.iter().map(|p| p.y + BOX_H).fold(0.0, f64::max) + PAD;
    let title = format!(
        "Composition of {}@{}",
        d.provenance.name, d.provenance.version
    );
    let arrow = format!("arrow-{}", shape.name());
    html! {
        svg xmlns="http://www.w3.org/2000/svg" class=(format!("graph {}", shape.name())) role="img"
            viewBox=(format!("0 0 {width} {height}")) width=(width) height=(height)
            font-family="system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif" {
            title { (title) }
            defs {
                marker id=(arrow) viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7"
                    markerHeight="7" orient="auto-start-reverse" {
                    path d="M 0 0 L 10 5 L 0 10 z" fill="#64748b" {}
                }
            }
            @for p in &placed {
                @if let Some(parent) = p.part.constituent.parent_key().and_then(|k| by_key.get(k.as_str())) {
                    (edge(parent, p, shape, &arrow))
                }
            }
            @for p in &placed { (node(p)) }
        }
    }
}

/// An arrow from importer to plug, labelled with the import.
fn edge(from: &Placed, to: &Placed, shape: Shape, arrow: &str) -> Markup {
    let (path, label_x, label_y, anchor) = match shape {
        Shape::Wide => {
            let (x1, y1) = (from.x + BOX_W, from.y + BOX_H / 2.0);
            let (x2, y2) = (to.x - 2.0, to.y + BOX_H / 2.0);
            let mid = (x1 + x2) / 2.0;
            (
                format!("M {x1} {y1} C {mid} {y1}, {mid} {y2}, {x2} {y2}"),
                x2 - 10.0,
                y2 - 7.0,
                "end",
            )
        }
        Shape::Tall => {
            let x1 = from.x + INDENT / 2.0;
            let (x2, y2) = (to.x - 2.0, to.y + BOX_H / 2.0);
            (
                format!("M {x1} {} V {y2} H {x2}", from.y + BOX_H),
                to.x + 2.0,
                to.y - 8.0,
                "start",
            )
        }
    };
    let fills = to.part.fills.join(", ");
    html! {
        g.edge {
            title { "plugs into " (edge_label(to.part)) @if !fills.is_empty() { ": " (fills) } }
            path d=(path) fill="none" stroke="#94a3b8" stroke-width="1.6"
                marker-end=(format!("url(#{arrow})")) {}
            text x=(label_x) y=(label_y) text-anchor=(anchor) font-size="12"
                font-family="ui-monospace, SFMono-Regular, Menlo, Consolas, monospace" fill="#334155"
                stroke="#f8fafc" stroke-width="4" stroke-linejoin="round" paint-order="stroke" {
                (clip(&edge_label(to.part), 30))
            }
        }
    }
}

fn node(p: &Placed) -> Markup {
    let c = &p.part.constituent;
    let root = c.parent_key().is_none();
    let (fill, stroke) = if root {
        ("#fff7ed", "#ea580c")
    } else {
        ("#eff6ff", "#2563eb")
    };
    let name = c
        .package
        .clone()
        .or_else(|| c.source.clone())
        .unwrap_or_else(|| c.key.clone());
    let short = c
        .digest
        .split_once(':')
        .map_or("", |(_, h)| &h[..h.len().min(10)]);
    let second = match &c.version {
        Some(v) => format!("{v} · {short}"),
        None => format!("sha256 {short}"),
    };
    let href = match (&c.package, &c.version, p.part.known) {
        (Some(pkg), Some(v), true) => Some(super::version_href(pkg, v)),
        _ => None,
    };
    let body = html! {
        title { (c.key) ": " (name) @if let Some(d) = &p.part.description { " — " (d) } }
        rect x=(p.x) y=(p.y) width=(BOX_W) height=(BOX_H) rx="8" fill=(fill) stroke=(stroke) stroke-width="1.5" {}
        @if root {
            text x=(p.x + BOX_W - 10.0) y=(p.y + 16.0) text-anchor="end" font-size="10"
                fill="#c2410c" letter-spacing="0.06em" { "ROOT" }
        }
        text x=(p.x + 12.0) y=(p.y + 24.0) font-size="14" font-weight="600" fill="#0f172a" {
            (clip(&name, if root { 22 } else { 27 }))
        }
        text x=(p.x + 12.0) y=(p.y + 44.0) font-size="12" fill="#475569" { (second) }
    };
    html! {
        g.node {
            @match href {
                Some(href) => a href=(href) { (body) },
                None => (body),
            }
        }
    }
}
