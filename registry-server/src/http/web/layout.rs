//! The page shell (head, header with search, footer) and the small pieces every page
//! uses: kind badges, sizes, dates, digests.

use maud::{DOCTYPE, Markup, html};

use super::stylesheet_url;

/// A whole page. `title` goes first in the `<title>`; `query` prefills the header's
/// search box.
pub fn page(title: &str, query: Option<&str>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light";
                title { (title) " · Wharf" }
                link rel="stylesheet" href=(stylesheet_url());
            }
            body {
                header.site {
                    div.bar {
                        a.brand href="/" { span.logo aria-hidden="true" { "⚓" } "Wharf" }
                        form.search role="search" action="/search" method="get" {
                            input type="search" name="q" value=[query]
                                placeholder="Search packages and components"
                                aria-label="Search packages and components";
                            button type="submit" { "Search" }
                        }
                    }
                }
                main { (body) }
                footer.site {
                    p {
                        "Wharf registry · WIT contracts and WebAssembly components · "
                        a href="/api/v1/openapi.json" { "JSON API" }
                    }
                }
            }
        }
    }
}

/// `wit` or `component` as a small coloured label.
pub fn kind_badge(kind: &str) -> Markup {
    let (class, label) = match kind {
        "wit" => ("badge wit", "WIT"),
        "component" => ("badge component", "component"),
        _ => ("badge", kind),
    };
    html! { span class=(class) { (label) } }
}

/// Bytes as `140.1 KiB`.
pub fn size(bytes: i64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Milliseconds since the epoch as a `<time>` showing the UTC date.
pub fn date(ms: i64) -> Markup {
    let (y, m, d, hh, mm, _) = crate::time::civil(ms);
    let iso = format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}Z");
    let shown = format!("{y:04}-{m:02}-{d:02}");
    html! { time datetime=(iso) title=(format!("{y:04}-{m:02}-{d:02} {hh:02}:{mm:02} UTC")) { (shown) } }
}

/// `sha256:0123456789ab…` with the whole digest in a tooltip.
pub fn short_digest(digest: &str) -> Markup {
    let short = match digest.split_once(':') {
        Some((alg, hex)) if hex.len() > 12 => format!("{alg}:{}…", &hex[..12]),
        _ => digest.to_owned(),
    };
    html! { code.digest title=(digest) { (short) } }
}

/// A command to copy, with its label.
pub fn snippet(label: &str, text: &str) -> Markup {
    html! {
        div.snippet {
            span.label { (label) }
            pre { code { (text) } }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(size(512), "512 B");
        assert_eq!(size(143_462), "140.1 KiB");
        assert_eq!(size(2_653_000), "2.5 MiB");
    }
}
