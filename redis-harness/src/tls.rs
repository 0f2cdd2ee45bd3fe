//! Test certificates, made with the `openssl` command-line tool at test time: a throwaway CA and
//! a server certificate for `127.0.0.1` and `localhost` signed by it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::HarnessError;
use crate::process::find_tool;

/// The files of a TLS test setup.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The CA certificate (PEM) a client must trust.
    pub ca_cert: PathBuf,
    /// The server certificate (PEM).
    pub server_cert: PathBuf,
    /// The server's private key (PEM).
    pub server_key: PathBuf,
}

/// `clientAuth` too: the nodes of a TLS cluster connect to each other's bus with this
/// certificate, and the bus always asks for a client certificate.
const SERVER_EXTENSIONS: &str = "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth,clientAuth
subjectAltName=IP:127.0.0.1,DNS:localhost
";

impl TlsFiles {
    /// Generates a CA and a server certificate into `dir`.
    pub fn generate(dir: &Path) -> Result<Self, HarnessError> {
        let openssl = find_tool("openssl", "apt-get install openssl")?;
        let files = TlsFiles {
            ca_cert: dir.join("ca.pem"),
            server_cert: dir.join("server.pem"),
            server_key: dir.join("server.key"),
        };
        let ca_key = dir.join("ca.key");
        let csr = dir.join("server.csr");
        let ext = dir.join("server-ext.cnf");
        std::fs::write(&ext, SERVER_EXTENSIONS)?;
        let run = |args: &[&dyn AsRef<std::ffi::OsStr>]| -> Result<(), HarnessError> {
            let output = Command::new(&openssl)
                .args(args.iter().map(|a| a.as_ref()))
                .stdin(Stdio::null())
                .output()?;
            if output.status.success() {
                Ok(())
            } else {
                Err(HarnessError::Command(format!(
                    "openssl failed: {}",
                    String::from_utf8_lossy(&output.stderr).trim()
                )))
            }
        };
        // A serial of our own instead of `-CAcreateserial`, which writes a file next to the CA.
        let serial = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(1)
            .to_string();
        run(&[
            &"ecparam",
            &"-name",
            &"prime256v1",
            &"-genkey",
            &"-noout",
            &"-out",
            &ca_key,
        ])?;
        run(&[
            &"req",
            &"-x509",
            &"-new",
            &"-key",
            &ca_key,
            &"-sha256",
            &"-days",
            &"2",
            &"-subj",
            &"/CN=redis-harness test CA",
            &"-addext",
            &"basicConstraints=critical,CA:TRUE",
            &"-addext",
            &"keyUsage=critical,keyCertSign,cRLSign",
            &"-out",
            &files.ca_cert,
        ])?;
        run(&[
            &"ecparam",
            &"-name",
            &"prime256v1",
            &"-genkey",
            &"-noout",
            &"-out",
            &files.server_key,
        ])?;
        run(&[
            &"req",
            &"-new",
            &"-key",
            &files.server_key,
            &"-subj",
            &"/CN=localhost",
            &"-out",
            &csr,
        ])?;
        run(&[
            &"x509",
            &"-req",
            &"-in",
            &csr,
            &"-CA",
            &files.ca_cert,
            &"-CAkey",
            &ca_key,
            &"-set_serial",
            &serial,
            &"-days",
            &"2",
            &"-sha256",
            &"-extfile",
            &ext,
            &"-out",
            &files.server_cert,
        ])?;
        Ok(files)
    }

    /// The CA certificate as PEM text.
    pub fn ca_pem(&self) -> Result<String, HarnessError> {
        Ok(std::fs::read_to_string(&self.ca_cert)?)
    }
}
