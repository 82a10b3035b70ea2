//! PostgreSQL over TLS against a real server: a CA, a server certificate
//! (for `localhost` only) and a client certificate are made with the openssl
//! CLI in the test; the server demands TLS and a client certificate signed by
//! that CA (`hostssl … cert`, `hostnossl … reject`). gameday connects with
//! `sslmode=require`, `verify-ca` and `verify-full`, and refuses a server
//! whose chain does not lead to the given CA, or (`verify-full`) whose name
//! does not match.

use crate::cli::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn pg_bin() -> PathBuf {
    std::env::var_os("GAMEDAY_PG_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/lib/postgresql/15/bin"))
}

fn postgres_user() -> Option<nix::unistd::User> {
    if nix::unistd::geteuid().is_root() {
        nix::unistd::User::from_name("postgres").ok().flatten()
    } else {
        None
    }
}

fn as_postgres(cmd: &mut Command) {
    if let Some(u) = postgres_user() {
        use std::os::unix::process::CommandExt;
        cmd.uid(u.uid.as_raw())
            .gid(u.gid.as_raw())
            .env("HOME", &u.dir);
    }
}

fn chown_postgres(p: &Path) {
    if let Some(u) = postgres_user() {
        nix::unistd::chown(p, Some(u.uid), Some(u.gid)).unwrap();
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("openssl CLI");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A self-signed CA.
fn make_ca(dir: &Path, name: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN={name}"),
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.crt"),
        ],
    );
}

/// A version-3 certificate signed by `ca` for `cn`, with extension `ext`.
fn make_cert(dir: &Path, ca: &str, name: &str, cn: &str, ext: &str) {
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            &format!("/CN={cn}"),
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
        ],
    );
    let mut args = vec![
        "x509",
        "-req",
        "-in",
        &format!("{name}.csr"),
        "-CA",
        &format!("{ca}.crt"),
        "-CAkey",
        &format!("{ca}.key"),
        "-CAcreateserial",
        "-days",
        "2",
        "-out",
        &format!("{name}.crt"),
    ]
    .into_iter()
    .map(String::from)
    .collect::<Vec<_>>();
    std::fs::write(dir.join(format!("{name}.ext")), format!("{ext}\n")).unwrap();
    args.extend(["-extfile".to_string(), format!("{name}.ext")]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    openssl(dir, &args);
}

struct TlsPg {
    port: u16,
    child: std::process::Child,
    dir: tempfile::TempDir,
}

impl Drop for TlsPg {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_tls_pg() -> TlsPg {
    let dir = tempfile::Builder::new()
        .prefix("gameday-pgtls-")
        .tempdir()
        .unwrap();
    let d = dir.path();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    make_ca(d, "ca");
    make_ca(d, "other-ca");
    make_cert(
        d,
        "ca",
        "server",
        "localhost",
        "subjectAltName=DNS:localhost",
    );
    make_cert(d, "ca", "client", "gameday", "extendedKeyUsage=clientAuth");
    let data = d.join("data");
    std::fs::create_dir(&data).unwrap();
    chown_postgres(d);
    chown_postgres(&data);
    for f in ["server.key", "server.crt", "ca.crt"] {
        let p = d.join(f);
        chown_postgres(&p);
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let mut initdb = Command::new(pg_bin().join("initdb"));
    initdb
        .args([
            "-D",
            data.to_str().unwrap(),
            "-U",
            "gameday",
            "--auth=trust",
            "-N",
        ])
        .current_dir(d)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    as_postgres(&mut initdb);
    assert!(initdb.status().unwrap().success(), "initdb");
    let port = crate::support::free_port();
    let mut conf = std::fs::OpenOptions::new()
        .append(true)
        .open(data.join("postgresql.conf"))
        .unwrap();
    use std::io::Write;
    write!(
        conf,
        "\nlisten_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{d}'\nfsync = off\nssl = on\nssl_cert_file = '{d}/server.crt'\nssl_key_file = '{d}/server.key'\nssl_ca_file = '{d}/ca.crt'\n",
        d = d.display()
    )
    .unwrap();
    // TLS with a client certificate from our CA, or nothing.
    std::fs::write(
        data.join("pg_hba.conf"),
        "local all all trust\nhostssl all gameday 127.0.0.1/32 cert\nhostnossl all all 127.0.0.1/32 reject\n",
    )
    .unwrap();
    let log = std::fs::File::create(d.join("pg.log")).unwrap();
    chown_postgres(&d.join("pg.log"));
    let mut cmd = Command::new(pg_bin().join("postgres"));
    cmd.arg("-D")
        .arg(&data)
        .current_dir(d)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    as_postgres(&mut cmd);
    let mut child = cmd.spawn().expect("start postgres");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(Some(s)) = child.try_wait() {
            panic!(
                "postgres exited with {s}:\n{}",
                std::fs::read_to_string(d.join("pg.log")).unwrap_or_default()
            );
        }
        let ready = Command::new(pg_bin().join("pg_isready"))
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-t", "1"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ready {
            break;
        }
        assert!(Instant::now() < deadline, "postgres not ready");
        std::thread::sleep(Duration::from_millis(100));
    }
    TlsPg { port, child, dir }
}

/// Run a one-query drill with `dsn`; (exit code, stdout + stderr).
fn query_with(dsn: &str) -> (i32, String) {
    let mut gd = Gd::drill(&["tests/cases/drills/postgres-tls.yaml", "--quiet"]);
    gd.cmd.env("GAMEDAY_PG_TLS_DSN", dsn);
    let (out, _d) = gd.run();
    (
        out.status.code().unwrap_or(-1),
        format!("{}{}", stdout(&out), stderr(&out)),
    )
}

#[test]
fn postgres_over_tls_require_verify_ca_verify_full_and_refusals() {
    let pg = start_tls_pg();
    let d = pg.dir.path().display().to_string();
    let client = format!("sslcert={d}/client.crt sslkey={d}/client.key");
    let at = |host: &str| {
        format!(
            "host={host} hostaddr=127.0.0.1 port={} user=gameday dbname=postgres",
            pg.port
        )
    };

    // verify-full: the chain leads to our CA and the name is the certificate's.
    let (code, out) = query_with(&format!(
        "{} sslmode=verify-full sslrootcert={d}/ca.crt {client}",
        at("localhost")
    ));
    assert_eq!(code, 0, "{out}");
    // The same as a URL.
    let (code, out) = query_with(&format!(
        "postgres://gameday@localhost:{}/postgres?hostaddr=127.0.0.1&sslmode=verify-full&sslrootcert={d}/ca.crt&sslcert={d}/client.crt&sslkey={d}/client.key",
        pg.port
    ));
    assert_eq!(code, 0, "{out}");
    // A name the certificate does not carry: verify-full refuses, verify-ca accepts.
    let (code, out) = query_with(&format!(
        "{} sslmode=verify-full sslrootcert={d}/ca.crt {client}",
        at("db.elsewhere")
    ));
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("certificate not valid for name"), "{out}");
    let (code, out) = query_with(&format!(
        "{} sslmode=verify-ca sslrootcert={d}/ca.crt {client}",
        at("db.elsewhere")
    ));
    assert_eq!(code, 0, "{out}");
    // The wrong CA: refused before anything is sent.
    let (code, out) = query_with(&format!(
        "{} sslmode=verify-ca sslrootcert={d}/other-ca.crt {client}",
        at("localhost")
    ));
    assert_eq!(code, 3, "{out}");
    assert!(
        out.contains("invalid peer certificate: UnknownIssuer"),
        "{out}"
    );
    // require: encrypted, not authenticated (libpq's meaning without a root).
    let (code, out) = query_with(&format!("{} sslmode=require {client}", at("localhost")));
    assert_eq!(code, 0, "{out}");
    // Without TLS the server refuses; without a client certificate too.
    let (code, out) = query_with(&format!("{} sslmode=disable", at("localhost")));
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("no encryption"), "{out}");
    let (code, out) = query_with(&format!(
        "{} sslmode=verify-full sslrootcert={d}/ca.crt",
        at("localhost")
    ));
    assert_eq!(code, 3, "{out}");
    // A certificate without its key is a mistake in the string, said plainly.
    let (code, out) = query_with(&format!(
        "{} sslmode=require sslcert={d}/client.crt",
        at("localhost")
    ));
    assert_eq!(code, 3, "{out}");
    assert!(out.contains("sslcert and sslkey go together"), "{out}");
}
