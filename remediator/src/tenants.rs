//! Each tenant's mailboxes: IMAP, Microsoft Graph or Gmail, one per tenant, with its own
//! credentials (`[tenants.<tenant>.imap]`, `.graph]` or `.gmail]` in remediator.toml). The
//! credentials are read and checked when the remediator starts; a bad one stops it with
//! the tenant, the field and what is wrong, never the secret itself.

use crate::adapter::gmail::{GMAIL, GmailAdapter};
use crate::adapter::graph::{GRAPH, GraphAdapter};
use crate::adapter::http::{ApiClient, SignIn};
use crate::adapter::imap::{ImapAdapter, ImapConfig};
use crate::adapter::signin::{self, CredentialError, JwtSigner, MicrosoftApp, MicrosoftSecret, ServiceAccount};
use crate::adapter::{AdapterError, MailboxAdapter, MoveOutcome};
use proto::RemediationAction;
use serde::Deserialize;
use std::path::PathBuf;

/// How the remediator reaches one tenant's mailboxes: exactly one of the three.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantMailboxes {
    pub imap: Option<ImapConfig>,
    pub graph: Option<GraphConfig>,
    pub gmail: Option<GmailConfig>,
}

/// A Microsoft 365 tenant, through an app registration with the application permission
/// `Mail.ReadWrite` (admin consent given).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GraphConfig {
    /// The Microsoft Entra tenant (its id or a verified domain).
    pub tenant_id: String,
    /// The app's (client) id.
    pub client_id: String,
    /// The client secret, from a file...
    pub client_secret_file: Option<PathBuf>,
    /// ... or from an environment variable (its name).
    pub client_secret_env: Option<String>,
    /// Or the app's certificate (PEM) and its private key (PKCS#8 PEM, RSA).
    pub certificate_file: Option<PathBuf>,
    pub private_key_file: Option<PathBuf>,
    /// The display name of the quarantine folder, created at the top of a mailbox when missing.
    #[serde(default = "default_quarantine")]
    pub quarantine_folder: String,
    /// Graph's address (a national cloud's, or a test server's).
    #[serde(default = "default_graph_url")]
    pub graph_url: String,
    /// The identity platform's address; the token endpoint is
    /// `{login_url}/{tenant_id}/oauth2/v2.0/token`.
    #[serde(default = "default_login_url")]
    pub login_url: String,
}

/// A Google Workspace domain, through a service account with domain-wide delegation of the
/// scope `https://www.googleapis.com/auth/gmail.modify`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GmailConfig {
    /// The service account's JSON key file (its `token_uri` is where tokens come from).
    pub service_account_file: PathBuf,
    /// The name of the quarantine label, created when missing.
    #[serde(default = "default_quarantine")]
    pub quarantine_label: String,
    /// Gmail's address (a test server's).
    #[serde(default = "default_gmail_url")]
    pub gmail_url: String,
}

fn default_quarantine() -> String {
    "Quarantine".to_owned()
}
fn default_graph_url() -> String {
    GRAPH.to_owned()
}
fn default_gmail_url() -> String {
    GMAIL.to_owned()
}
fn default_login_url() -> String {
    "https://login.microsoftonline.com".to_owned()
}

/// A tenant's mailboxes that cannot be reached as configured.
#[derive(Debug, thiserror::Error)]
pub enum TenantConfigError {
    #[error("[tenants.{tenant}]: give exactly one of imap, graph or gmail (found {found})")]
    NotOne { tenant: String, found: usize },
    #[error(
        "[tenants.{tenant}.graph]: give exactly one of client_secret_file, client_secret_env, or certificate_file with private_key_file"
    )]
    GraphSecret { tenant: String },
    #[error("[tenants.{tenant}.{section}] {field}: {reason}")]
    Field { tenant: String, section: &'static str, field: &'static str, reason: String },
    #[error("[tenants.{tenant}.{section}]: {source}")]
    Credential {
        tenant: String,
        section: &'static str,
        #[source]
        source: CredentialError,
    },
    #[error("[tenants.{tenant}]: the HTTP client: {source}")]
    Client {
        tenant: String,
        #[source]
        source: reqwest::Error,
    },
}

impl TenantMailboxes {
    /// Checks the section without reading credentials (what `validate` can do offline).
    pub fn check(&self, tenant: &str) -> Result<(), TenantConfigError> {
        let found =
            usize::from(self.imap.is_some()) + usize::from(self.graph.is_some()) + usize::from(self.gmail.is_some());
        if found != 1 {
            return Err(TenantConfigError::NotOne { tenant: tenant.to_owned(), found });
        }
        if let Some(graph) = &self.graph {
            let ways = usize::from(graph.client_secret_file.is_some())
                + usize::from(graph.client_secret_env.is_some())
                + usize::from(graph.certificate_file.is_some() || graph.private_key_file.is_some());
            if ways != 1 || graph.certificate_file.is_some() != graph.private_key_file.is_some() {
                return Err(TenantConfigError::GraphSecret { tenant: tenant.to_owned() });
            }
            let field = field_error(tenant, "graph");
            if graph.tenant_id.trim().is_empty() || graph.tenant_id.contains(['/', '?', '#']) {
                return Err(field("tenant_id", "a tenant id or domain, without / ? #"));
            }
            if graph.client_id.trim().is_empty() {
                return Err(field("client_id", "empty"));
            }
            check_url(&graph.graph_url).map_err(|r| field("graph_url", &r))?;
            check_url(&graph.login_url).map_err(|r| field("login_url", &r))?;
            if graph.quarantine_folder.trim().is_empty() {
                return Err(field("quarantine_folder", "empty"));
            }
        }
        if let Some(gmail) = &self.gmail {
            let field = field_error(tenant, "gmail");
            check_url(&gmail.gmail_url).map_err(|r| field("gmail_url", &r))?;
            if gmail.quarantine_label.trim().is_empty() {
                return Err(field("quarantine_label", "empty"));
            }
        }
        Ok(())
    }

    /// The tenant's adapter, its credentials read and checked.
    pub fn adapter(&self, tenant: &str) -> Result<TenantAdapter, TenantConfigError> {
        self.check(tenant)?;
        let credential =
            |section| move |source| TenantConfigError::Credential { tenant: tenant.to_owned(), section, source };
        let client = |sign_in| {
            ApiClient::new(sign_in).map_err(|source| TenantConfigError::Client { tenant: tenant.to_owned(), source })
        };
        if let Some(imap) = &self.imap {
            return Ok(TenantAdapter::Imap(ImapAdapter { config: imap.clone() }));
        }
        if let Some(graph) = &self.graph {
            let secret = match (&graph.certificate_file, &graph.private_key_file) {
                (Some(cert), Some(key)) => {
                    let pem = std::fs::read(key)
                        .map_err(|source| CredentialError::Read { path: key.clone(), source })
                        .map_err(credential("graph"))?;
                    MicrosoftSecret::Certificate {
                        thumbprint_sha1: signin::certificate_thumbprint(cert).map_err(credential("graph"))?,
                        signer: JwtSigner::from_pem(&pem, key).map_err(credential("graph"))?,
                    }
                }
                _ => MicrosoftSecret::ClientSecret(
                    signin::read_secret(graph.client_secret_file.as_deref(), graph.client_secret_env.as_deref())
                        .map_err(credential("graph"))?,
                ),
            };
            let app = MicrosoftApp {
                token_url: format!("{}/{}/oauth2/v2.0/token", graph.login_url.trim_end_matches('/'), graph.tenant_id),
                client_id: graph.client_id.clone(),
                secret,
            };
            let transport = client(SignIn::Microsoft(app))?;
            return Ok(TenantAdapter::Graph(GraphAdapter::new(transport, &graph.graph_url, &graph.quarantine_folder)));
        }
        let gmail = self.gmail.as_ref().expect("check: exactly one");
        let account = ServiceAccount::from_key_file(&gmail.service_account_file).map_err(credential("gmail"))?;
        let transport = client(SignIn::Google(account))?;
        Ok(TenantAdapter::Gmail(GmailAdapter::new(transport, &gmail.gmail_url, &gmail.quarantine_label)))
    }
}

/// The error of one field of `[tenants.<tenant>.<section>]`.
fn field_error<'a>(tenant: &'a str, section: &'static str) -> impl Fn(&'static str, &str) -> TenantConfigError + 'a {
    move |field, reason| TenantConfigError::Field {
        tenant: tenant.to_owned(),
        section,
        field,
        reason: reason.to_owned(),
    }
}

fn check_url(url: &str) -> Result<(), String> {
    match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "https" | "http") && u.host().is_some() => Ok(()),
        _ => Err(format!("{url:?} is not an http(s) URL")),
    }
}

/// One tenant's adapter.
pub enum TenantAdapter {
    Imap(ImapAdapter),
    Graph(GraphAdapter<ApiClient>),
    Gmail(GmailAdapter<ApiClient>),
}

impl TenantAdapter {
    /// Which service it speaks to, for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            TenantAdapter::Imap(_) => "imap",
            TenantAdapter::Graph(_) => "graph",
            TenantAdapter::Gmail(_) => "gmail",
        }
    }
}

impl MailboxAdapter for TenantAdapter {
    async fn remediate(
        &self,
        mailbox: &str,
        message_id: &str,
        action: RemediationAction,
    ) -> Result<MoveOutcome, AdapterError> {
        match self {
            TenantAdapter::Imap(a) => a.remediate(mailbox, message_id, action).await,
            TenantAdapter::Graph(a) => a.remediate(mailbox, message_id, action).await,
            TenantAdapter::Gmail(a) => a.remediate(mailbox, message_id, action).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml_text: &str) -> TenantMailboxes {
        toml::from_str(toml_text).expect("parses")
    }

    #[test]
    fn each_bad_field_is_named() {
        let two = parse(
            "[imap]\naddress = \"127.0.0.1:143\"\npassword = \"x\"\n[gmail]\nservice_account_file = \"k.json\"\n",
        );
        assert!(two.check("acme").unwrap_err().to_string().contains("exactly one of imap, graph or gmail (found 2)"));
        let no_secret = parse("[graph]\ntenant_id = \"contoso\"\nclient_id = \"app\"\n");
        assert!(no_secret.check("acme").unwrap_err().to_string().contains("client_secret_file, client_secret_env"));
        let half_cert = parse("[graph]\ntenant_id = \"contoso\"\nclient_id = \"app\"\ncertificate_file = \"c.pem\"\n");
        assert!(matches!(half_cert.check("acme"), Err(TenantConfigError::GraphSecret { .. })));
        let bad_url = parse(
            "[graph]\ntenant_id = \"contoso\"\nclient_id = \"app\"\nclient_secret_env = \"S\"\ngraph_url = \"graph\"\n",
        );
        assert!(bad_url.check("acme").unwrap_err().to_string().contains("[tenants.acme.graph] graph_url"));
        let bad_tenant = parse("[graph]\ntenant_id = \"a/b\"\nclient_id = \"app\"\nclient_secret_env = \"S\"\n");
        assert!(bad_tenant.check("acme").unwrap_err().to_string().contains("tenant_id"));
        let ok = parse("[graph]\ntenant_id = \"contoso\"\nclient_id = \"app\"\nclient_secret_env = \"S\"\n");
        assert!(ok.check("acme").is_ok());
    }

    #[test]
    fn credentials_are_read_at_start_and_never_shown() {
        let dir = tempfile::tempdir().unwrap();
        let missing_env = parse(
            "[graph]\ntenant_id = \"contoso\"\nclient_id = \"app\"\nclient_secret_env = \"POSTERN_TEST_UNSET_SECRET\"\n",
        );
        let e = missing_env.adapter("acme").err().expect("refused").to_string();
        assert!(e.contains("[tenants.acme.graph]") && e.contains("POSTERN_TEST_UNSET_SECRET"), "{e}");
        let key = dir.path().join("sa.json");
        std::fs::write(
            &key,
            "{\"type\": \"service_account\", \"client_email\": \"a@b\", \"private_key\": \"hunter2\"}",
        )
        .unwrap();
        let gmail = parse(&format!("[gmail]\nservice_account_file = \"{}\"\n", key.display()));
        let e = gmail.adapter("acme").err().expect("refused").to_string();
        assert!(e.contains("[tenants.acme.gmail]") && e.contains("sa.json") && !e.contains("hunter2"), "{e}");
        let secret = dir.path().join("secret");
        std::fs::write(&secret, "s3cret\n").unwrap();
        let graph = parse(&format!(
            "[graph]\ntenant_id = \"contoso\"\nclient_id = \"app\"\nclient_secret_file = \"{}\"\n",
            secret.display()
        ));
        assert_eq!(graph.adapter("acme").map(|a| a.kind()).ok(), Some("graph"));
    }
}
