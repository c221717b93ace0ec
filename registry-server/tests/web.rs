//! The web pages, driven in-process on the bundled contracts and components: status
//! codes, titles, what each page says, HTML error pages, escaping of untrusted
//! metadata, and a deployable's composition graph. (`tests/browser.rs` drives the same
//! pages in headless Chromium.)

mod common;

use axum::http::StatusCode;
use common::{Backend, Reply, TestApp};

on_both_databases!(
    home_search_and_namespace_pages_list_what_is_published,
    the_package_page_shows_wit_links_implementors_and_versions,
    the_diff_page_gives_the_semver_verdict_and_names_each_change,
    a_deployable_page_draws_its_composition,
    unknown_things_answer_html_error_pages,
    untrusted_metadata_is_shown_as_text,
);

fn html(reply: &Reply) -> String {
    assert_eq!(
        reply.header("content-type"),
        "text/html; charset=utf-8",
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    String::from_utf8(reply.body.to_vec()).unwrap()
}

async fn page(app: &TestApp, uri: &str) -> String {
    let reply = app.get(uri).await;
    let body = html(&reply);
    assert_eq!(reply.status, StatusCode::OK, "{uri}: {body}");
    assert!(
        !body.contains("<script"),
        "{uri}: pages carry no JavaScript"
    );
    body
}

fn title(body: &str) -> &str {
    let start = body.find("<title>").expect("a title") + "<title>".len();
    &body[start..start + body[start..].find("</title>").unwrap()]
}

/// The `wharf.toml` line that plugs flate in, as the HTML carries it.
const PLUG_FLATE: &str = "&quot;wharf:compression&quot; = { package = &quot;wharf:flate&quot;, version = &quot;^1.1.0&quot; }";

async fn seeded(backend: Backend) -> TestApp {
    let app = TestApp::new(backend).await;
    let token = app.token("alice", &["publish"], None).await;
    app.publish_bundled(&token).await;
    app
}

async fn home_search_and_namespace_pages_list_what_is_published(backend: Backend) {
    let app = seeded(backend).await;
    let home = page(&app, "/").await;
    assert_eq!(title(&home), "Registry · Wharf");
    assert!(home.contains(r#"<meta name="viewport""#));
    let packages = wharf_bundled::COMPONENTS.len() + 5; // auth, compression, schema, transform, gateway
    assert!(
        home.contains(&format!("<strong>{packages}</strong> packages")),
        "{home}"
    );
    assert!(home.contains(r#"href="/packages/wharf/flate""#));

    let gzip = page(&app, "/search?q=gzip").await;
    assert!(title(&gzip).contains("gzip"));
    assert!(gzip.contains(r#"href="/packages/wharf/flate""#), "{gzip}");
    assert!(!gzip.contains(r#"href="/packages/wharf/brotli""#));

    let codecs = page(
        &app,
        "/search?q=&kind=component&implements=wharf%3Acompression%2Fcodec%401",
    )
    .await;
    for name in ["flate", "brotli"] {
        assert!(codecs.contains(&format!(r#"href="/packages/wharf/{name}""#)));
    }
    assert!(codecs.contains("2 results"), "{codecs}");
    let contracts = page(&app, "/search?kind=wit").await;
    assert!(contracts.contains(r#"href="/packages/wharf/compression""#));
    assert!(!contracts.contains(r#"href="/packages/wharf/flate""#));

    let ns = page(&app, "/namespaces/wharf").await;
    assert_eq!(title(&ns), "Namespace wharf · Wharf");
    assert!(ns.contains("<strong>alice</strong>"));
    assert!(ns.contains(r#"href="/packages/wharf/json-schema""#));

    let css = app.get(wharf_registry::http::web::stylesheet_url()).await;
    assert_eq!(css.status, StatusCode::OK);
    assert_eq!(css.header("content-type"), "text/css; charset=utf-8");
    assert!(css.header("cache-control").contains("immutable"));
    assert!(home.contains(wharf_registry::http::web::stylesheet_url()));
}

async fn the_package_page_shows_wit_links_implementors_and_versions(backend: Backend) {
    let app = seeded(backend).await;
    let compression = page(&app, "/packages/wharf/compression").await;
    assert_eq!(title(&compression), "wharf:compression@2.0.0 · Wharf");
    assert!(compression.contains(
        r#"package</span> <a class="r" href="/packages/wharf/compression/2.0.0">wharf:compression@2.0.0</a>;"#
    ));
    assert!(compression.contains(r#"id="interface-codec""#));
    assert!(compression.contains(r##"href="#interface-types""##));
    // flate exports codec@1.1.0 and brotli codec@1.0.0: implementors of 1.x, not of 2.0.0.
    let implementors = &compression[compression.find(r#"id="implementors""#).unwrap()..];
    let implementors = &implementors[..implementors.find("</section>").unwrap()];
    assert!(implementors.contains("No component implements wharf:compression@2.0.0"));
    assert!(implementors.contains(r#"href="/packages/wharf/flate/1.1.0""#));
    assert!(implementors.contains(r#"href="/packages/wharf/brotli/1.0.0""#));
    for v in ["1.0.0", "1.1.0", "2.0.0"] {
        assert!(compression.contains(&format!(r#"href="/packages/wharf/compression/{v}""#)));
    }
    assert!(
        compression.contains(r#"href="/packages/wharf/compression/diff?from=1.1.0&amp;to=2.0.0""#)
    );
    assert!(compression.contains("wkg get wharf:compression@2.0.0"));

    // At 1.1.0 flate is an implementor of this very version, brotli (1.0.0) of another.
    let v11 = page(&app, "/packages/wharf/compression/1.1.0").await;
    assert!(v11.contains("This is not the latest version"));
    assert!(v11.contains(PLUG_FLATE));

    let flate = page(&app, "/packages/wharf/flate").await;
    assert!(
        flate.contains(r#"<a class="r" href="/packages/wharf/compression/1.1.0#interface-codec">wharf:compression/codec@1.1.0</a>"#),
        "{flate}"
    );
    assert!(flate.contains("wharf pull wharf:flate@1.1.0"));
    assert!(flate.contains(PLUG_FLATE));
    assert!(flate.contains("sha256:"));
    assert!(flate.contains("KiB"));

    // A yanked version is marked, and still has its page.
    let admin = common::ADMIN;
    let yank = app
        .request(
            axum::http::Method::PUT,
            "/api/v1/packages/wharf/compression/versions/1.0.0/yank",
            Some(admin),
            axum::body::Body::empty(),
        )
        .await;
    assert_eq!(yank.status, StatusCode::NO_CONTENT);
    let yanked = page(&app, "/packages/wharf/compression/1.0.0").await;
    assert!(yanked.contains("This version is yanked"));
    assert!(yanked.contains(r#"<span class="badge yanked">yanked</span>"#));
}

async fn the_diff_page_gives_the_semver_verdict_and_names_each_change(backend: Backend) {
    let app = seeded(backend).await;
    let major = page(&app, "/packages/wharf/compression/diff?from=1.0.0&to=2.0.0").await;
    assert_eq!(title(&major), "wharf:compression 1.0.0 → 2.0.0 · Wharf");
    assert!(major.contains(r#"<div class="verdict breaking"><strong>Breaking</strong>"#));
    assert!(major.contains("function codec.compress changed"), "{major}");
    assert!(major.contains("a new major version"));
    assert!(major.contains("<span class=\"del\">- package wharf:compression@1.0.0;\n</span>"));

    let minor = page(&app, "/packages/wharf/compression/diff?from=1.0.0&to=1.1.0").await;
    assert!(minor.contains(r#"<div class="verdict compatible"><strong>Compatible</strong>"#));
    assert!(minor.contains("interface streaming"), "{minor}");

    let missing = app.get("/packages/wharf/compression/diff").await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    let unknown = app
        .get("/packages/wharf/compression/diff?from=1.0.0&to=9.0.0")
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert!(html(&unknown).contains("has no version 9.0.0"));
}

/// The gateway with a provenance section naming the bundled plugs: what the composer
/// embeds, without composing (`tests/browser.rs` composes a real one).
fn deployable() -> Vec<u8> {
    let c = |crate_name: &str| wharf_bundled::component(crate_name).unwrap();
    let part = |key: &str, crate_name: &str| {
        serde_json::json!({"key": key, "package": c(crate_name).package,
            "version": c(crate_name).version,
            "digest": wharf_types::Digest::of(c(crate_name).bytes).to_string()})
    };
    let provenance = serde_json::json!({"name": "acme:edge", "version": "1.0.0", "constituents": [
        part("deployable.root", "gateway"),
        part(r#"plugs."wharf:auth""#, "jwt-auth"),
        part(r#"plugs."wharf:compression""#, "flate"),
        {"key": r#"plugs."wharf:schema""#, "source": "path ./<b>schema</b>.wasm", "digest": "sha256:00"},
    ]});
    common::with_provenance(c("gateway").bytes, &provenance)
}

async fn a_deployable_page_draws_its_composition(backend: Backend) {
    let app = seeded(backend).await;
    let token = app.token("acme", &["publish"], None).await;
    let reply = app
        .publish(&token, "acme:edge", "1.0.0", &deployable())
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);

    let package = page(&app, "/packages/acme/edge").await;
    assert!(package.contains(r#"href="/packages/acme/edge/1.0.0/deployable""#));
    let graph = page(&app, "/packages/acme/edge/1.0.0/deployable").await;
    assert_eq!(title(&graph), "acme:edge@1.0.0 composition · Wharf");
    assert!(graph.contains("<svg"));
    // Drawn twice, wide for screens and tall for phones: 4 parts, 3 arrows each.
    assert_eq!(graph.matches(r#"<svg xmlns"#).count(), 2);
    assert_eq!(graph.matches(r#"<g class="edge">"#).count(), 2 * 3);
    assert_eq!(graph.matches(r#"<g class="node">"#).count(), 2 * 4);
    assert!(graph.contains(r#"<a href="/packages/wharf/flate/1.1.0">"#));
    assert!(
        graph.contains("wharf:compression@1.1.0"),
        "the edge carries the export's version"
    );
    assert!(graph.contains("path ./&lt;b&gt;schema&lt;/b&gt;.wasm"));

    let svg = app.get("/packages/acme/edge/1.0.0/graph.svg").await;
    assert_eq!(svg.status, StatusCode::OK);
    assert_eq!(svg.header("content-type"), "image/svg+xml; charset=utf-8");
    assert!(
        svg.body
            .starts_with(b"<svg xmlns=\"http://www.w3.org/2000/svg\"")
    );
    // Standalone SVG is XML: every element is closed.
    let text = String::from_utf8(svg.body.to_vec()).unwrap();
    for element in ["path", "rect", "text", "g", "a"] {
        let opened = text.matches(&format!("<{element} ")).count();
        assert!(opened > 0, "{element}");
        assert_eq!(
            opened,
            text.matches(&format!("</{element}>")).count(),
            "{element}"
        );
    }

    let plain = app.get("/packages/wharf/flate/1.1.0/deployable").await;
    assert_eq!(plain.status, StatusCode::NOT_FOUND);
    assert!(html(&plain).contains("carries no composition"));
}

async fn unknown_things_answer_html_error_pages(backend: Backend) {
    let app = seeded(backend).await;
    for (uri, status, says) in [
        (
            "/packages/wharf/nope",
            404,
            "there is no package wharf:nope",
        ),
        (
            "/packages/wharf/flate/9.9.9",
            404,
            "wharf:flate has no version 9.9.9",
        ),
        (
            "/packages/wharf/nope/1.0.0",
            404,
            "there is no package wharf:nope",
        ),
        ("/packages/Wharf/flate", 400, "Bad request"),
        ("/namespaces/nobody", 404, "there is no namespace"),
        ("/search?kind=module", 400, "neither `wit` nor `component`"),
        ("/search?implements=codec", 400, "is not an interface"),
    ] {
        let reply = app.get(uri).await;
        let body = html(&reply);
        assert_eq!(reply.status.as_u16(), status, "{uri}: {body}");
        assert!(body.contains(says), "{uri}: {body}");
        assert!(title(&body).ends_with(" · Wharf"));
    }

    let private = TestApp::with(backend, |c| c.anonymous_read = false).await;
    let reply = private.get("/").await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert!(html(&reply).contains("Private registry"));
}

async fn untrusted_metadata_is_shown_as_text(backend: Backend) {
    let app = seeded(backend).await;
    let token = app.token("mallory", &["publish"], None).await;
    let description = r#"<script>alert("owned")</script> & <img src=x onerror=alert(1)>"#;
    let mut metadata = wasm_metadata::AddMetadata::default();
    metadata.description =
        wasm_metadata::AddMetadataField::Set(wasm_metadata::Description::new(description));
    let bytes = metadata
        .to_wasm(wharf_bundled::component("flate").unwrap().bytes)
        .unwrap();
    let reply = app.publish(&token, "mallory:evil", "1.0.0", &bytes).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.body);

    let escaped = "&lt;script&gt;alert(&quot;owned&quot;)&lt;/script&gt; &amp; &lt;img src=x onerror=alert(1)&gt;";
    for uri in [
        "/packages/mallory/evil",
        "/search?q=owned",
        "/namespaces/mallory",
        "/",
    ] {
        let body = page(&app, uri).await;
        assert!(body.contains(escaped), "{uri}: {body}");
        assert!(!body.contains("<img src=x"), "{uri}");
    }
    // The search box echoes the query, escaped too.
    let body = page(&app, "/search?q=%22%3E%3Cscript%3E").await;
    assert!(
        body.contains(r#"value="&quot;&gt;&lt;script&gt;""#),
        "{body}"
    );
}
