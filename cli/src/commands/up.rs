//! `wharf up`: the whole thing on embedded defaults. Starts the registry (SQLite and
//! blobs in the data directory), publishes the bundled WIT packages and components
//! (skipping what is there already), composes the example gateway against the
//! registry, serves it, and prints the URLs and a `curl` line that answers 200.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use wharf_compose::{Cache, Lock, LockMode, Manifest, OciResolver, RegistryConfig};

use crate::host;

/// The example deploy manifest and its configuration, from `examples/gateway/`.
const EXAMPLE_MANIFEST: &str = include_str!("../../../examples/gateway/wharf.toml");
const EXAMPLE_SCHEMA: &str = include_str!("../../../examples/gateway/schema.json");
const EXAMPLE_TRANSFORM: &str = include_str!("../../../examples/gateway/transform.json");

/// Start the registry, publish the bundled packages, compose and serve the example.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  wharf up\n  wharf up --data-dir /tmp/wharf --registry-listen 127.0.0.1:0 --gateway-listen 127.0.0.1:0"
)]
pub struct Args {
    /// Where the registry's database and blobs, the lock and the deployable live.
    #[arg(long, env = "WHARF_DATA_DIR", default_value = ".wharf")]
    data_dir: PathBuf,
    /// The registry's address (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:7878")]
    registry_listen: SocketAddr,
    /// The URL clients reach the registry at, `http(s)://host[:port]` (default:
    /// `http://` and the registry's listen address); see `wharf serve --public-url`.
    #[arg(long, value_parser = wharf_registry::parse_public_url)]
    public_url: Option<String>,
    /// The gateway's address (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:8080")]
    gateway_listen: SocketAddr,
    /// A deploy manifest to compose instead of the bundled example.
    #[arg(short, long)]
    manifest: Option<PathBuf>,
    /// Serve Prometheus metrics at `/metrics` on this address.
    #[arg(long, value_name = "ADDR")]
    metrics_addr: Option<SocketAddr>,
    /// Limits over the manifest's `[limits]`.
    #[command(flatten)]
    limits: host::LimitArgs,
}

/// A secret kept in the data directory across runs, made on the first one (mode 0600,
/// in the call that creates the file, and only where nothing is: a link planted there
/// is not written through). A file that is there but empty or short is refused, never
/// trusted: an empty admin token or signing key would let anyone in.
fn secret(path: &Path) -> anyhow::Result<String> {
    wharf_registry::private::secret_file(
        path,
        wharf_registry::service::tokens::ADMIN_TOKEN_MIN_CHARS,
    )
    .map_err(anyhow::Error::msg)
}

impl Args {
    pub async fn run(self) -> anyhow::Result<()> {
        wharf_registry::private::create_dir_all_sync(&self.data_dir)
            .with_context(|| format!("creating {}", self.data_dir.display()))?;
        let admin = secret(&self.data_dir.join("admin-token"))?;
        let gateway_secret = secret(&self.data_dir.join("gateway-secret"))?;

        // 1. The registry, on embedded defaults.
        let mut config = wharf_registry::Config::new(&self.data_dir);
        config.listen = self.registry_listen;
        config.public_url = self.public_url.clone();
        config.admin_token = Some(admin.clone());
        let server = wharf_registry::Server::bind(config).await?;
        let registry = server.local_addr();
        let publisher = server.publisher();
        let (stop_registry, stopped) = tokio::sync::oneshot::channel::<()>();
        let registry_task = tokio::spawn(server.run(async move {
            let _ = stopped.await;
        }));

        // 2. The bundled contracts and components; what is there already is skipped.
        let (mut published, mut present) = (0, 0);
        let mut wit: Vec<_> = wharf_bundled::WIT_PACKAGES.iter().collect();
        wit.sort_by_key(|p| {
            (
                p.package,
                semver::Version::parse(p.version).expect("bundled versions are semver"),
            )
        });
        let packages = wit.iter().map(|p| (p.package, p.version, p.bytes)).chain(
            wharf_bundled::COMPONENTS
                .iter()
                .map(|c| (c.package, c.version, c.bytes)),
        );
        for (package, version, bytes) in packages {
            let name: wharf_types::PackageName = package.parse()?;
            match publisher
                .publish(&name, version, bytes::Bytes::from_static(bytes))
                .await
            {
                Ok(_) => published += 1,
                Err(e) if e.code == "VERSION_EXISTS" => present += 1,
                Err(e) => {
                    anyhow::bail!("publishing {package}@{version}: {} ({})", e.message, e.code)
                }
            }
        }
        crate::status!(
            "Published",
            "{published} packages ({present} were there already)"
        );

        // 3. The example deployable, resolved against the registry over OCI.
        let (manifest_text, manifest_dir) = match &self.manifest {
            Some(path) => (
                std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?,
                path.parent().map(Path::to_path_buf).unwrap_or_default(),
            ),
            None => (EXAMPLE_MANIFEST.to_owned(), self.data_dir.clone()),
        };
        let manifest: Manifest = manifest_text.parse()?;
        let resolver = OciResolver::new(&RegistryConfig {
            registry: registry.to_string(),
            insecure_http: true,
            token: Some(admin.clone()),
        })?;
        let lock_path = self.data_dir.join("wharf.lock");
        let existing: Option<Lock> = std::fs::read_to_string(&lock_path)
            .ok()
            .and_then(|t| t.parse().ok());
        let lock = wharf_compose::resolve(&manifest, existing.as_ref(), &resolver, LockMode::Reuse)
            .await?;
        std::fs::write(&lock_path, lock.to_string())?;
        let cache = Cache::new(self.data_dir.join("cache"));
        let mut constituents =
            wharf_compose::load(&manifest, &manifest_dir, &lock, &resolver, &cache).await?;
        // A manifest's [trust] signature policy holds here as in `wharf compose`. The
        // transparency log is not checked: this process keeps it and signs its
        // checkpoints, so checking them against itself would prove nothing
        // (docs/trust.md, "What `wharf up` checks").
        if manifest.trust.requires_any() {
            let own = crate::registry::RegistryArgs {
                registry: format!("http://{registry}")
                    .parse()
                    .map_err(anyhow::Error::msg)?,
            };
            super::verify::check_constituents(
                &manifest,
                &manifest_dir,
                &mut constituents,
                Some(&own),
            )
            .await?;
        }
        let deployable = wharf_compose::compose(&manifest, &constituents)?;
        let output = self
            .data_dir
            .join(format!("{}.wasm", manifest.deployable.name.name()));
        std::fs::write(&output, &deployable)?;
        crate::status!(
            "Composed",
            "{} from {} components -> {}",
            manifest.deployable.name,
            constituents.len(),
            output.display()
        );

        // Published too, so the registry's pages show what it is made of. The same lock
        // composes the same bytes, so a second run finds it there already.
        let deployable_name = &manifest.deployable.name;
        let deployable_version = manifest.deployable.version.to_string();
        match publisher
            .publish(
                deployable_name,
                &deployable_version,
                bytes::Bytes::from(deployable.clone()),
            )
            .await
        {
            Ok(_) => crate::status!(
                "Published",
                "{deployable_name}@{deployable_version} (the deployable)"
            ),
            Err(e) if e.code == "VERSION_EXISTS" => {}
            Err(e) => tracing::warn!(
                "the deployable was not published: {} ({})",
                e.message,
                e.code
            ),
        }

        // 4. Serve it, configured through its environment.
        let env = vec![
            ("GATEWAY_JWT_SECRET".to_owned(), gateway_secret.clone()),
            ("GATEWAY_JWT_AUDIENCE".to_owned(), "wharf-demo".to_owned()),
            ("GATEWAY_SCHEMA".to_owned(), EXAMPLE_SCHEMA.to_owned()),
            ("GATEWAY_TRANSFORM".to_owned(), EXAMPLE_TRANSFORM.to_owned()),
        ];
        // The manifest's own grants, plus the gateway's configuration.
        let mut capabilities = host::CapabilityArgs::default()
            .capabilities(Some((&manifest.capabilities, &manifest_dir)))?;
        capabilities.env.extend(env);
        let limits = self.limits.limits(host::manifest_limits(&manifest.limits));
        let runtime = self.limits.runtime(&limits)?;
        let served = host::prepare(
            &runtime,
            &deployable,
            capabilities,
            limits,
            false,
            self.limits.prewarm(),
        )
        .await?;
        let listener = host::bind(self.gateway_listen).await?;
        let gateway = listener.local_addr()?;
        let metrics = host::metrics(self.metrics_addr, &served).await?;
        let (stop_gateway, gateway_stopped) = tokio::sync::oneshot::channel::<()>();
        let gateway_task = tokio::spawn(wharf_host::serve(listener, served, async move {
            let _ = gateway_stopped.await;
        }));

        let expires = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs()
            + 3600;
        let claims = serde_json::json!({"sub": "demo", "aud": "wharf-demo", "exp": expires});
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(gateway_secret.as_bytes()),
        )?;
        println!("ready");
        println!("  registry  http://{registry}  (JSON API at http://{registry}/api/v1/packages)");
        println!(
            "  deployable http://{registry}/packages/{}/{}/{deployable_version}/deployable",
            deployable_name.namespace(),
            deployable_name.name()
        );
        println!("  gateway   http://{gateway}/v1/ingest");
        if let Some((metrics, _)) = metrics {
            println!("  metrics   http://{metrics}/metrics");
        }
        println!(
            "  admin token in {}",
            self.data_dir.join("admin-token").display()
        );
        println!();
        println!(
            "curl -s --compressed -H 'authorization: Bearer {token}' -H 'content-type: application/json' -d '{{\"event\": \"signed  up\", \"user\": {{\"id\": 7, \"email\": \"ann@example.com\"}}}}' http://{gateway}/v1/ingest"
        );

        crate::commands::serve::shutdown_signal().await;
        // Stop accepting and let requests in flight finish.
        let _ = stop_gateway.send(());
        let _ = gateway_task.await;
        let _ = stop_registry.send(());
        registry_task.await??;
        Ok(())
    }
}
