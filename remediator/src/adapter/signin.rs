//! Signing in to the mailbox APIs as a service, the way each documents it:
//! - Microsoft identity platform, client credentials: `POST {login}/{tenant}/oauth2/v2.0/token`
//!   with the app's id, `scope=https://graph.microsoft.com/.default` and either its secret or
//!   a client assertion (a JWT signed with the app certificate's key, `x5t` its SHA-1
//!   thumbprint);
//! - Google service account with domain-wide delegation: a JWT signed (RS256) with the
//!   account's key, `sub` the mailbox's user, exchanged at the key file's `token_uri`.
//!
//! Secrets are read once, at start, from files or the environment; no error or log line
//! carries one.

use super::AdapterError;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::RsaKeyPair;
use rustls_pki_types::pem::PemObject;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The Graph scope of an app-only token.
pub const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";
/// The Gmail scope a remediator needs (read, label, trash).
pub const GMAIL_SCOPE: &str = "https://www.googleapis.com/auth/gmail.modify";
/// Google's token endpoint, when a key file names none.
pub const GOOGLE_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";

/// A credential that could not be read at start.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("{path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error("environment variable {0} is not set or empty")]
    MissingEnv(String),
}

/// An RSA private key (PKCS#8 PEM) that signs JWTs with RS256.
pub struct JwtSigner {
    key: RsaKeyPair,
}

impl std::fmt::Debug for JwtSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtSigner(<RSA key>)")
    }
}

impl JwtSigner {
    /// From a PEM `PRIVATE KEY` (PKCS#8) block; `origin` names where it came from in errors.
    pub fn from_pem(pem: &[u8], origin: &Path) -> Result<Self, CredentialError> {
        let invalid = |reason: String| CredentialError::Invalid { path: origin.to_owned(), reason };
        let der = rustls_pki_types::PrivatePkcs8KeyDer::from_pem_slice(pem)
            .map_err(|_| invalid("no PKCS#8 private key (-----BEGIN PRIVATE KEY-----) in it".to_owned()))?;
        let key = RsaKeyPair::from_pkcs8(der.secret_pkcs8_der())
            .map_err(|e| invalid(format!("not an RSA key of 2048 bits or more: {e}")))?;
        Ok(JwtSigner { key })
    }

    /// `header.claims.signature`, base64url without padding, signed RS256.
    pub fn sign(&self, header: &serde_json::Value, claims: &serde_json::Value) -> Result<String, AdapterError> {
        let input =
            format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
        let mut signature = vec![0; self.key.public().modulus_len()];
        self.key
            .sign(
                &ring::signature::RSA_PKCS1_SHA256,
                &ring::rand::SystemRandom::new(),
                input.as_bytes(),
                &mut signature,
            )
            .map_err(|_| AdapterError::Permanent("signing the sign-in assertion failed".to_owned()))?;
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }

    /// The public key (DER RSAPublicKey), for checking signatures.
    pub fn public_key_der(&self) -> Vec<u8> {
        self.key.public().as_ref().to_vec()
    }
}

/// How an app signs in to Microsoft's identity platform.
// One per tenant, made at start: the size of a variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum MicrosoftSecret {
    ClientSecret(String),
    /// The app's certificate (its SHA-1 thumbprint goes in the assertion's `x5t`) and key.
    Certificate {
        thumbprint_sha1: Vec<u8>,
        signer: JwtSigner,
    },
}

/// An app registration allowed `Mail.ReadWrite` (application permission) in one
/// Microsoft 365 tenant.
#[derive(Debug)]
pub struct MicrosoftApp {
    /// `{login}/{tenant}/oauth2/v2.0/token`.
    pub token_url: String,
    pub client_id: String,
    pub secret: MicrosoftSecret,
}

impl MicrosoftApp {
    /// The form of the token request.
    pub fn token_form(&self, now: SystemTime) -> Result<Vec<(&'static str, String)>, AdapterError> {
        let mut form = vec![
            ("client_id", self.client_id.clone()),
            ("scope", GRAPH_SCOPE.to_owned()),
            ("grant_type", "client_credentials".to_owned()),
        ];
        match &self.secret {
            MicrosoftSecret::ClientSecret(secret) => form.push(("client_secret", secret.clone())),
            MicrosoftSecret::Certificate { thumbprint_sha1, signer } => {
                let now = unix(now);
                let header =
                    serde_json::json!({ "alg": "RS256", "typ": "JWT", "x5t": URL_SAFE_NO_PAD.encode(thumbprint_sha1) });
                let claims = serde_json::json!({
                    "aud": self.token_url,
                    "iss": self.client_id,
                    "sub": self.client_id,
                    "jti": ulid::Ulid::new().to_string(),
                    "nbf": now,
                    "iat": now,
                    "exp": now + 600,
                });
                form.push((
                    "client_assertion_type",
                    "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_owned(),
                ));
                form.push(("client_assertion", signer.sign(&header, &claims)?));
            }
        }
        Ok(form)
    }
}

/// A Google service account with domain-wide delegation (its JSON key file).
#[derive(Debug)]
pub struct ServiceAccount {
    pub client_email: String,
    pub token_uri: String,
    pub signer: JwtSigner,
}

impl ServiceAccount {
    /// Reads a service account's JSON key file (`client_email`, `private_key`, `token_uri`).
    pub fn from_key_file(path: &Path) -> Result<Self, CredentialError> {
        let text = std::fs::read(path).map_err(|source| CredentialError::Read { path: path.to_owned(), source })?;
        let invalid = |reason: &str| CredentialError::Invalid { path: path.to_owned(), reason: reason.to_owned() };
        let key: serde_json::Value =
            serde_json::from_slice(&text).map_err(|_| invalid("not a JSON service account key file"))?;
        if key["type"].as_str().is_some_and(|t| t != "service_account") {
            return Err(invalid("\"type\" is not \"service_account\""));
        }
        let client_email = key["client_email"].as_str().ok_or_else(|| invalid("no \"client_email\""))?.to_owned();
        let private_key = key["private_key"].as_str().ok_or_else(|| invalid("no \"private_key\""))?;
        let token_uri = key["token_uri"].as_str().unwrap_or(GOOGLE_TOKEN_URI).to_owned();
        Ok(ServiceAccount { client_email, token_uri, signer: JwtSigner::from_pem(private_key.as_bytes(), path)? })
    }

    /// The form of the token request for `user`'s mailbox.
    pub fn token_form(&self, user: &str, now: SystemTime) -> Result<Vec<(&'static str, String)>, AdapterError> {
        let now = unix(now);
        let claims = serde_json::json!({
            "iss": self.client_email,
            "scope": GMAIL_SCOPE,
            "aud": self.token_uri,
            "sub": user,
            "iat": now,
            "exp": now + 3600,
        });
        let assertion = self.signer.sign(&serde_json::json!({ "alg": "RS256", "typ": "JWT" }), &claims)?;
        Ok(vec![("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer".to_owned()), ("assertion", assertion)])
    }
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// A secret from a file (trailing newline dropped) or an environment variable.
pub fn read_secret(file: Option<&Path>, env: Option<&str>) -> Result<String, CredentialError> {
    if let Some(path) = file {
        let text =
            std::fs::read_to_string(path).map_err(|source| CredentialError::Read { path: path.to_owned(), source })?;
        let secret = text.trim_end_matches(['\r', '\n']).to_owned();
        if secret.is_empty() {
            return Err(CredentialError::Invalid { path: path.to_owned(), reason: "empty".to_owned() });
        }
        return Ok(secret);
    }
    let name = env.unwrap_or_default();
    std::env::var(name).ok().filter(|v| !v.is_empty()).ok_or_else(|| CredentialError::MissingEnv(name.to_owned()))
}

/// The SHA-1 thumbprint of the first certificate of a PEM file (what Microsoft's `x5t` is).
pub fn certificate_thumbprint(path: &Path) -> Result<Vec<u8>, CredentialError> {
    let der = rustls_pki_types::CertificateDer::from_pem_file(path).map_err(|e| CredentialError::Invalid {
        path: path.to_owned(),
        reason: format!("no PEM certificate in it: {e}"),
    })?;
    Ok(ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, der.as_ref()).as_ref().to_vec())
}

/// What a token endpoint answered: the token and how long it is good for.
#[derive(Debug, Clone)]
pub struct AccessToken {
    pub token: String,
    pub expires_in: Duration,
}

/// Reads a token endpoint's answer. Refusals (4xx: a wrong secret, an app without consent)
/// are permanent with the endpoint's `error` and `error_description`; 429 and 5xx temporary.
pub fn token_answer(status: u16, body: &serde_json::Value) -> Result<AccessToken, AdapterError> {
    if (200..300).contains(&status) {
        let token = body["access_token"].as_str().filter(|t| !t.is_empty()).ok_or_else(|| {
            AdapterError::Temporary("sign-in: the token endpoint's answer has no access_token".into())
        })?;
        let expires_in =
            body["expires_in"].as_u64().or_else(|| body["expires_in"].as_str()?.parse().ok()).unwrap_or(3600);
        return Ok(AccessToken { token: token.to_owned(), expires_in: Duration::from_secs(expires_in) });
    }
    let description = body["error_description"].as_str().unwrap_or_default();
    // Microsoft's descriptions run over several lines (trace and correlation ids): the first.
    let description = description.lines().next().unwrap_or_default();
    let detail = format!("sign-in refused: HTTP {status}: {} {description}", body["error"].as_str().unwrap_or(""))
        .trim()
        .to_owned();
    match status {
        429 | 500..=599 => Err(AdapterError::Temporary(detail)),
        _ => Err(AdapterError::Permanent(detail)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An RSA key made by openssl for this test only.
    pub(crate) fn rsa_key_pem() -> Vec<u8> {
        let out = std::process::Command::new("openssl")
            .args(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"])
            .output()
            .expect("openssl");
        assert!(out.status.success());
        out.stdout
    }

    fn verify(jwt: &str, public_der: &[u8]) -> (serde_json::Value, serde_json::Value) {
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let signed = format!("{}.{}", parts[0], parts[1]);
        let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        ring::signature::UnparsedPublicKey::new(&ring::signature::RSA_PKCS1_2048_8192_SHA256, public_der)
            .verify(signed.as_bytes(), &signature)
            .expect("the signature verifies");
        let decode = |p: &str| serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap();
        (decode(parts[0]), decode(parts[1]))
    }

    #[test]
    fn a_service_account_signs_an_assertion_for_the_mailbox_user() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.json");
        let key = serde_json::json!({
            "type": "service_account",
            "client_email": "postern@project.iam.gserviceaccount.com",
            "private_key": String::from_utf8(rsa_key_pem()).unwrap(),
            "token_uri": "https://oauth2.googleapis.com/token",
        });
        std::fs::write(&path, key.to_string()).unwrap();
        let account = ServiceAccount::from_key_file(&path).unwrap();
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let form = account.token_form("bob@corp.example", now).unwrap();
        assert_eq!(form[0], ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer".to_owned()));
        let (header, claims) = verify(&form[1].1, &account.signer.public_key_der());
        assert_eq!(header["alg"], "RS256");
        assert_eq!(claims["sub"], "bob@corp.example");
        assert_eq!(claims["iss"], "postern@project.iam.gserviceaccount.com");
        assert_eq!(claims["aud"], "https://oauth2.googleapis.com/token");
        assert_eq!(claims["scope"], GMAIL_SCOPE);
        assert_eq!(claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(), 3600);
        // A key file that is not one: the path and what is wrong, never the content.
        std::fs::write(&path, "{\"type\": \"service_account\", \"private_key\": \"secret\"}").unwrap();
        let e = ServiceAccount::from_key_file(&path).unwrap_err().to_string();
        assert!(e.contains("key.json") && e.contains("client_email") && !e.contains("secret\""), "{e}");
    }

    #[test]
    fn a_microsoft_app_sends_its_secret_or_a_certificate_assertion() {
        let app = MicrosoftApp {
            token_url: "https://login.microsoftonline.com/contoso/oauth2/v2.0/token".into(),
            client_id: "app-1".into(),
            secret: MicrosoftSecret::ClientSecret("s3cret".into()),
        };
        let form = app.token_form(SystemTime::now()).unwrap();
        assert!(form.contains(&("scope", GRAPH_SCOPE.to_owned())));
        assert!(form.contains(&("grant_type", "client_credentials".to_owned())));
        assert!(form.contains(&("client_secret", "s3cret".to_owned())));
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("app.key");
        std::fs::write(&key, rsa_key_pem()).unwrap();
        let signer = JwtSigner::from_pem(&std::fs::read(&key).unwrap(), &key).unwrap();
        let public = signer.public_key_der();
        let app =
            MicrosoftApp { secret: MicrosoftSecret::Certificate { thumbprint_sha1: vec![0xAB; 20], signer }, ..app };
        let form = app.token_form(SystemTime::now()).unwrap();
        let assertion = &form.iter().find(|(k, _)| *k == "client_assertion").unwrap().1;
        let (header, claims) = verify(assertion, &public);
        assert_eq!(header["x5t"], URL_SAFE_NO_PAD.encode([0xAB; 20]));
        assert_eq!(claims["aud"], "https://login.microsoftonline.com/contoso/oauth2/v2.0/token");
        assert_eq!(claims["iss"], "app-1");
        assert!(!form.iter().any(|(k, _)| *k == "client_secret"));
    }

    #[test]
    fn token_answers_and_refusals() {
        let ok =
            token_answer(200, &serde_json::json!({"token_type": "Bearer", "expires_in": 3599, "access_token": "eyJ"}))
                .unwrap();
        assert_eq!((ok.token.as_str(), ok.expires_in), ("eyJ", Duration::from_secs(3599)));
        let refused = serde_json::json!({"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided.\r\nTrace ID: 1"});
        match token_answer(401, &refused) {
            Err(AdapterError::Permanent(m)) => {
                assert!(m.contains("invalid_client AADSTS7000215") && !m.contains("Trace ID"), "{m}")
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(token_answer(503, &serde_json::Value::Null), Err(AdapterError::Temporary(_))));
    }

    #[test]
    fn secrets_come_from_a_file_or_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, "abc\n").unwrap();
        assert_eq!(read_secret(Some(&path), None).unwrap(), "abc");
        let e = read_secret(None, Some("POSTERN_TEST_NO_SUCH_SECRET")).unwrap_err().to_string();
        assert!(e.contains("POSTERN_TEST_NO_SUCH_SECRET"), "{e}");
    }
}
