//! Signed publishes: `wharf key` (generate a key pair; register, list and revoke the
//! keys of a namespace) and `wharf sign` (sign a published version). The format is
//! `wharf_types::signing`'s; docs/trust.md describes it.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::json;
use wharf_types::signing::{self, Envelope, SigningKey};
use wharf_types::views::{AddKey, NamespaceKey, SignatureInfo, VersionDetail};
use wharf_types::{Digest, PackageName};

use crate::client::{Client, encode, package_path};
use crate::registry::RegistryArgs;

fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Generate a signing key pair, and register, list or revoke the public keys allowed
/// to sign for a namespace.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  wharf key generate -o ~/.config/wharf/keys          # writes wharf.key (0600) and wharf.pub
  wharf key add --namespace acme ~/.config/wharf/keys/wharf.pub --name release
  wharf key list --namespace acme
  wharf key revoke --namespace acme 3f2a...            # the key id `key list` shows

Keys are Ed25519: the private key PKCS#8 PEM, the public key SPKI PEM (as OpenSSL
writes them); a key's id is the hex sha256 of its raw 32-byte public key.")]
pub struct KeyArgs {
    #[command(subcommand)]
    action: KeyAction,
    /// Print JSON.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(clap::Subcommand)]
enum KeyAction {
    /// Generate a key pair: NAME.key (private, mode 0600) and NAME.pub in DIR.
    Generate {
        /// The directory to write the files in (created if missing).
        #[arg(short = 'o', long = "out-dir", default_value = ".")]
        dir: PathBuf,
        /// The files' name.
        #[arg(long, default_value = "wharf")]
        name: String,
    },
    /// Register a public key to sign for a namespace (its owners only).
    Add {
        /// The namespace.
        #[arg(long)]
        namespace: String,
        /// The public key file (SPKI PEM), or a private key file (its public half is sent).
        file: PathBuf,
        /// A label for the key, e.g. `release`.
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// The keys registered for a namespace, revoked ones too.
    List {
        /// The namespace.
        #[arg(long)]
        namespace: String,
        #[command(flatten)]
        registry: RegistryArgs,
    },
    /// Revoke a namespace's key: signatures made with it stop counting.
    Revoke {
        /// The namespace.
        #[arg(long)]
        namespace: String,
        /// The key's id, as `wharf key list` shows it.
        keyid: String,
        #[command(flatten)]
        registry: RegistryArgs,
    },
}

impl KeyArgs {
    pub async fn run(self) -> anyhow::Result<()> {
        match self.action {
            KeyAction::Generate { dir, name } => generate(&dir, &name, self.json),
            KeyAction::Add {
                namespace,
                file,
                name,
                registry,
            } => {
                let public = read_public_key(&file)?;
                let body = AddKey {
                    public_key: signing::public_key_to_pem(&public),
                    name,
                };
                let key: NamespaceKey = Client::new(&registry)
                    .post(
                        &format!("/api/v1/namespaces/{}/keys", encode(&namespace)),
                        &body,
                    )
                    .await?;
                if self.json {
                    return print_json(&key);
                }
                crate::status!("Registered", "key {} for {namespace}", key.keyid);
                Ok(())
            }
            KeyAction::List {
                namespace,
                registry,
            } => {
                let keys: Vec<NamespaceKey> = Client::new(&registry)
                    .get(&format!("/api/v1/namespaces/{}/keys", encode(&namespace)))
                    .await?;
                if self.json {
                    return print_json(&keys);
                }
                for key in keys {
                    let state = match &key.revoked_by {
                        Some(by) => format!("revoked by {by}"),
                        None => "active".into(),
                    };
                    let label = key.name.as_deref().unwrap_or("-");
                    println!("{}  {label}  added by {}  {state}", key.keyid, key.added_by);
                }
                Ok(())
            }
            KeyAction::Revoke {
                namespace,
                keyid,
                registry,
            } => {
                let path = format!(
                    "/api/v1/namespaces/{}/keys/{}",
                    encode(&namespace),
                    encode(&keyid)
                );
                let body = Client::new(&registry).delete(&path).await?;
                let key: NamespaceKey = crate::client::parse(&path, &body)?;
                if self.json {
                    return print_json(&key);
                }
                crate::status!("Revoked", "key {} of {namespace}", key.keyid);
                Ok(())
            }
        }
    }
}

/// Writes a new key pair as `dir/name.key` (0600) and `dir/name.pub`, refusing to
/// overwrite either.
fn generate(dir: &Path, name: &str, json: bool) -> anyhow::Result<()> {
    anyhow::ensure!(
        !name.is_empty() && !name.contains(['/', '\\']),
        "--name `{name}` is not a file name"
    );
    wharf_registry::private::create_dir_all_sync(dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    let key = signing::generate();
    let public = key.verifying_key();
    let private_path = dir.join(format!("{name}.key"));
    let public_path = dir.join(format!("{name}.pub"));
    for path in [&private_path, &public_path] {
        anyhow::ensure!(
            !path.exists(),
            "{} exists already; nothing was written (choose another --name or directory)",
            path.display()
        );
    }
    write_new(&private_path, &signing::private_key_to_pem(&key), true)?;
    let public_pem = signing::public_key_to_pem(&public);
    write_new(&public_path, &public_pem, false)?;
    let keyid = signing::key_id(&public);
    if json {
        return print_json(&json!({
            "keyid": keyid,
            "public_key": public_pem,
            "private_key_file": private_path,
            "public_key_file": public_path,
        }));
    }
    crate::status!("Generated", "key {keyid}");
    eprintln!("     private {} (keep it secret)", private_path.display());
    eprintln!("      public {}", public_path.display());
    println!("{keyid}");
    print!("{public_pem}");
    Ok(())
}

/// Creates `path` with `text`; mode 0600 when `private`.
fn write_new(path: &Path, text: &str, private: bool) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if private { 0o600 } else { 0o644 });
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

/// The private key in `file` (PKCS#8 PEM).
pub fn read_private_key(file: &Path) -> anyhow::Result<SigningKey> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    signing::private_key_from_pem(&text).with_context(|| format!("{}", file.display()))
}

/// The public key in `file`: SPKI PEM, or the public half of a PKCS#8 private key.
pub fn read_public_key(file: &Path) -> anyhow::Result<signing::VerifyingKey> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    if text.contains("PRIVATE KEY") {
        return Ok(signing::private_key_from_pem(&text)
            .with_context(|| format!("{}", file.display()))?
            .verifying_key());
    }
    signing::public_key_from_pem(&text).with_context(|| format!("{}", file.display()))
}

/// Refuses a signing key that is not registered, or is revoked, for `namespace`:
/// checked before a publish, so that nothing is published that then cannot be signed.
pub async fn check_registered(
    client: &Client,
    namespace: &str,
    key: &SigningKey,
) -> anyhow::Result<()> {
    let keyid = signing::key_id(&key.verifying_key());
    let hint = format!(
        "hint: an owner of `{namespace}` registers it with `wharf key add --namespace {namespace} <public key file>`; nothing was published"
    );
    let keys: Vec<NamespaceKey> = client
        .get(&format!("/api/v1/namespaces/{}/keys", encode(namespace)))
        .await
        .with_context(|| {
            format!("the signing key {keyid} is not registered for `{namespace}`\n{hint}")
        })?;
    match keys.iter().find(|k| k.keyid == keyid) {
        None => {
            anyhow::bail!("the signing key {keyid} is not registered for `{namespace}`\n{hint}")
        }
        Some(k) if k.revoked_at.is_some() => {
            anyhow::bail!(
                "the signing key {keyid} of `{namespace}` is revoked; nothing was published"
            )
        }
        Some(_) => Ok(()),
    }
}

/// Signs `name@version`, whose bytes have `digest`, with `key` and attaches the
/// signature in the registry.
pub async fn attach(
    client: &Client,
    key: &SigningKey,
    name: &PackageName,
    version: &str,
    digest: &Digest,
) -> anyhow::Result<SignatureInfo> {
    let envelope: Envelope = signing::sign(key, &format!("{name}@{version}"), digest);
    let path = format!(
        "/api/v1/packages/{}/{}/versions/{}/signatures",
        name.namespace(),
        name.name(),
        encode(version)
    );
    client
        .post(&path, &envelope)
        .await
        .with_context(|| format!("attaching the signature of {name}@{version}"))
}

/// Sign a version already published: its bytes are downloaded and hashed here, and
/// the signature (a DSSE envelope) attached in the registry.
#[derive(clap::Args)]
#[command(after_help = "Examples:
  wharf sign acme:gateway@1.2.0 --key ~/.config/wharf/keys/wharf.key
  wharf publish gateway.wasm --sign-key ~/.config/wharf/keys/wharf.key   # sign on publish

The key must be registered for the namespace first (`wharf key add`).")]
pub struct SignArgs {
    /// `ns:name@version`.
    package: String,
    /// The private key file (PKCS#8 PEM, as `wharf key generate` writes it).
    #[arg(long)]
    key: PathBuf,
    #[command(flatten)]
    registry: RegistryArgs,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

impl SignArgs {
    pub async fn run(self) -> anyhow::Result<()> {
        let key = read_private_key(&self.key)?;
        let (spec, version) = self
            .package
            .split_once('@')
            .context("give the version to sign: `ns:name@version`")?;
        let (name, path) = package_path(spec)?;
        let client = Client::new(&self.registry);
        let detail: VersionDetail = client
            .get(&format!(
                "/api/v1/packages/{path}/versions/{}",
                encode(version)
            ))
            .await?;
        let bytes = client
            .download(
                &format!(
                    "/api/v1/packages/{path}/versions/{}/content",
                    encode(version)
                ),
                &format!("{name}@{version}"),
            )
            .await?;
        let digest = Digest::of(&bytes);
        anyhow::ensure!(
            detail.digest == digest.to_string(),
            "the registry says {name}@{version} is {}, but its bytes hash to {digest}; nothing was signed",
            detail.digest
        );
        let info = attach(&client, &key, &name, &detail.version, &digest).await?;
        if self.json {
            return print_json(&info);
        }
        crate::status!(
            "Signed",
            "{name}@{version} {digest} with key {}",
            info.keyid
        );
        Ok(())
    }
}
