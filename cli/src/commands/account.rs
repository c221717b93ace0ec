//! `login`, `logout`, `token` and `owner`: who may do what in a registry.

use anyhow::Context;
use wharf_types::views::{CreateToken, Namespace, NewToken, Scope, Token};

use crate::client::Client;
use crate::config::{Config, Registry};
use crate::registry::RegistryArgs;

/// Store an API token for a registry (read from stdin when not given).
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  echo \"$TOKEN\" | wharf login\n  wharf login --registry registry.example.com wharf_0123..."
)]
pub struct LoginArgs {
    /// The token; read from standard input when absent, so it stays out of the shell history.
    token: Option<String>,
    #[command(flatten)]
    registry: RegistryArgs,
}

impl LoginArgs {
    pub async fn run(self) -> anyhow::Result<()> {
        let token = match self.token {
            Some(t) => t,
            None => std::io::read_to_string(std::io::stdin())
                .context("reading the token from stdin")?
                .trim()
                .to_owned(),
        };
        anyhow::ensure!(!token.is_empty(), "no token given");
        let mut config = Config::load()?;
        let registry = &self.registry.registry;
        let [key, url] = Config::keys(registry);
        config.registries.remove(&url);
        config.registries.insert(key, Registry { token });
        let path = config.save()?;
        crate::status!(
            "Login",
            "token for {} saved in {}",
            self.registry.registry,
            path.display()
        );
        Ok(())
    }
}

/// Forget the token stored for a registry.
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  wharf logout\n  wharf logout --registry registry.example.com")]
pub struct LogoutArgs {
    #[command(flatten)]
    registry: RegistryArgs,
}

impl LogoutArgs {
    pub async fn run(self) -> anyhow::Result<()> {
        let mut config = Config::load()?;
        let removed = Config::keys(&self.registry.registry)
            .iter()
            .filter(|key| config.registries.remove(*key).is_some())
            .count();
        if removed == 0 {
            eprintln!(
                "      Logout: no token was stored for {}",
                self.registry.registry
            );
            return Ok(());
        }
        config.save()?;
        eprintln!(
            "      Logout: the token for {} is forgotten",
            self.registry.registry
        );
        Ok(())
    }
}

/// Create, list and revoke API tokens.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  wharf token create ci --scope publish --namespace acme\n  wharf token list --json\n  wharf token revoke 0b9c..."
)]
pub struct TokenArgs {
    #[command(subcommand)]
    action: TokenAction,
    #[command(flatten)]
    registry: RegistryArgs,
    /// Print JSON.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(clap::Subcommand)]
enum TokenAction {
    /// Create a token; its secret is printed once.
    Create {
        /// A label, e.g. `ci`.
        name: String,
        /// publish, yank, owners or admin (repeatable).
        #[arg(long = "scope", required = true, value_parser = scope)]
        scopes: Vec<Scope>,
        /// Limit it to these namespaces (repeatable).
        #[arg(long = "namespace")]
        namespaces: Vec<String>,
        /// Days until it expires.
        #[arg(long)]
        expires_in_days: Option<u32>,
        /// Admins only: the user it is for.
        #[arg(long)]
        owner: Option<String>,
    },
    /// List your tokens (never their secrets).
    List,
    /// Revoke a token by id.
    Revoke { id: String },
}

impl TokenArgs {
    pub async fn run(self) -> anyhow::Result<()> {
        let client = Client::new(&self.registry);
        match self.action {
            TokenAction::Create {
                name,
                scopes,
                namespaces,
                expires_in_days,
                owner,
            } => {
                let body = CreateToken {
                    name,
                    scopes,
                    namespaces: (!namespaces.is_empty()).then_some(namespaces),
                    expires_in_days,
                    owner,
                };
                let created: NewToken = client.post("/api/v1/tokens", &body).await?;
                if self.json {
                    println!("{}", serde_json::to_string_pretty(&created)?);
                } else {
                    crate::status!(
                        "Created",
                        "token `{}` ({}); it will not be shown again:",
                        created.token.name,
                        created.token.id
                    );
                    println!("{}", created.token_secret);
                }
            }
            TokenAction::List => {
                let tokens: Vec<Token> = client.get("/api/v1/tokens").await?;
                if self.json {
                    println!("{}", serde_json::to_string_pretty(&tokens)?);
                } else {
                    for t in tokens {
                        let state = if t.revoked { "revoked" } else { "active" };
                        println!(
                            "{}  {:<16} {:<8} {}",
                            t.id,
                            t.name,
                            state,
                            t.scopes.join(",")
                        );
                    }
                }
            }
            TokenAction::Revoke { id } => {
                client.delete(&format!("/api/v1/tokens/{id}")).await?;
                crate::status!("Revoked", "token {id}");
            }
        }
        Ok(())
    }
}

/// A `--scope`, as tokens spell it.
fn scope(text: &str) -> Result<Scope, String> {
    Scope::parse(text)
        .ok_or_else(|| format!("`{text}` is not a scope: publish, yank, owners or admin"))
}

/// Add, remove and list the owners of a namespace.
#[derive(clap::Args)]
#[command(
    after_help = "Examples:\n  wharf owner list acme\n  wharf owner add acme bob\n  wharf owner remove acme alice"
)]
pub struct OwnerArgs {
    #[command(subcommand)]
    action: OwnerAction,
    #[command(flatten)]
    registry: RegistryArgs,
    /// Print JSON.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(clap::Subcommand)]
enum OwnerAction {
    /// The namespace's owners and packages.
    List { namespace: String },
    /// Make a user an owner.
    Add { namespace: String, user: String },
    /// Remove an owner (the last one stays).
    Remove { namespace: String, user: String },
}

impl OwnerArgs {
    pub async fn run(self) -> anyhow::Result<()> {
        let client = Client::new(&self.registry);
        match self.action {
            OwnerAction::List { namespace } => {
                let ns: Namespace = client
                    .get(&format!("/api/v1/namespaces/{namespace}"))
                    .await?;
                if self.json {
                    println!("{}", serde_json::to_string_pretty(&ns)?);
                } else {
                    for owner in ns.owners {
                        println!("{owner}");
                    }
                }
            }
            OwnerAction::Add { namespace, user } => {
                client
                    .put(&format!("/api/v1/namespaces/{namespace}/owners/{user}"))
                    .await?;
                crate::status!("Owner", "{user} added to {namespace}");
            }
            OwnerAction::Remove { namespace, user } => {
                client
                    .delete(&format!("/api/v1/namespaces/{namespace}/owners/{user}"))
                    .await?;
                crate::status!("Owner", "{user} removed from {namespace}");
            }
        }
        Ok(())
    }
}
