//! Throwaway PostgreSQL and Redis servers for the fault tests: each test starts its own,
//! on free loopback ports, in a temporary directory, so it can stop, kill and restart
//! them under a running server without touching the shared services every other test
//! uses (127.0.0.1:5432 and :6379).
//!
//! PostgreSQL refuses to run as root, so when the tests run as root (CI containers)
//! `initdb` and `pg_ctl` run as the `postgres` OS user (`runuser -u postgres --`), with
//! the directory handed over to it.
//!
//! The programs are looked up on `PATH`, then in `/usr/lib/postgresql/<version>/bin`
//! (where Debian's `postgresql` package puts them). Missing programs skip the tests with
//! one loud line, except with `CI=true`, where they fail: CI installs them (`.ci/run`).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The server programs the fault tests need.
#[derive(Clone, Debug)]
pub struct Tools {
    redis_server: PathBuf,
    initdb: PathBuf,
    pg_ctl: PathBuf,
}

impl Tools {
    /// The programs, or `None` (after one loud line) when one is missing outside CI.
    ///
    /// # Panics
    /// When one is missing and `CI=true`: CI must run the fault tests.
    pub fn find() -> Option<Self> {
        let found = (find("redis-server"), find("initdb"), find("pg_ctl"));
        match found {
            (Some(redis_server), Some(initdb), Some(pg_ctl)) => Some(Self {
                redis_server,
                initdb,
                pg_ctl,
            }),
            (r, i, p) => {
                let missing: Vec<&str> = [("redis-server", r), ("initdb", i), ("pg_ctl", p)]
                    .into_iter()
                    .filter(|(_, f)| f.is_none())
                    .map(|(n, _)| n)
                    .collect();
                let why = format!(
                    "fault tests need {} (apt-get install postgresql redis-server)",
                    missing.join(", ")
                );
                if std::env::var("CI").is_ok_and(|v| v == "true") {
                    panic!("CI=true but {why}");
                }
                let _ = writeln!(
                    std::io::stderr(),
                    "########## SKIPPED fault test: {why} ##########"
                );
                None
            }
        }
    }
}

fn find(program: &str) -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    let mut versioned: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|dir| dir.flatten().map(|e| e.path().join("bin")).collect())
        .unwrap_or_default();
    // the newest version first
    versioned.sort_by_key(|p| {
        std::cmp::Reverse(
            p.parent()
                .and_then(Path::file_name)
                .and_then(|v| v.to_str())
                .and_then(|v| v.parse::<u32>().ok())
                .unwrap_or(0),
        )
    });
    on_path
        .into_iter()
        .chain(versioned)
        .chain(["/usr/sbin".into(), "/usr/bin".into()])
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// A free TCP port on 127.0.0.1 (free when asked; the caller binds it right away).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
    l.local_addr().expect("addr").port()
}

/// A new directory under the temporary directory — `/tmp` when PostgreSQL must run as
/// the `postgres` user, who may not be able to reach a `TMPDIR` of root's.
fn scratch_dir(kind: &str, as_postgres_user: bool) -> PathBuf {
    let base = if as_postgres_user {
        PathBuf::from("/tmp")
    } else {
        std::env::temp_dir()
    };
    let dir = base.join(format!(
        "agora-faults-{kind}-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).expect("scratch directory");
    dir
}

fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A `redis-server` of its own: no persistence, loopback only.
pub struct ThrowawayRedis {
    program: PathBuf,
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl ThrowawayRedis {
    /// Starts one on a free port and waits until it answers `PING`.
    pub async fn start(tools: &Tools) -> Self {
        let mut redis = Self {
            program: tools.redis_server.clone(),
            port: free_port(),
            dir: scratch_dir("redis", false),
            child: None,
        };
        redis.restart().await;
        redis
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills it (SIGKILL: no goodbye to its clients, nothing saved) and waits for it to be
    /// gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it (again) on the same port, empty, and waits until it answers `PING`.
    pub async fn restart(&mut self) {
        self.kill();
        let child = Command::new(&self.program)
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .arg("--logfile")
            .arg(self.dir.join("redis.log"))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn redis-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.pong() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("throwaway redis-server on port {} did not start", self.port);
    }

    fn pong(&self) -> bool {
        let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
        let mut buf = [0u8; 7];
        s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
    }
}

impl Drop for ThrowawayRedis {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A PostgreSQL cluster of its own (`initdb` + `pg_ctl`), trust authentication for
/// `postgres`, loopback only, no fsync (a throwaway).
pub struct ThrowawayPostgres {
    initdb: PathBuf,
    pg_ctl: PathBuf,
    port: u16,
    dir: PathBuf,
    as_postgres_user: bool,
    running: bool,
}

impl ThrowawayPostgres {
    /// Creates a cluster and starts it on a free port.
    pub fn start(tools: &Tools) -> Self {
        let as_postgres_user = running_as_root();
        let dir = scratch_dir("pg", as_postgres_user);
        let mut pg = Self {
            initdb: tools.initdb.clone(),
            pg_ctl: tools.pg_ctl.clone(),
            port: free_port(),
            dir,
            as_postgres_user,
            running: false,
        };
        if as_postgres_user {
            let ok = Command::new("chown")
                .args(["postgres:"])
                .arg(&pg.dir)
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "chown of {} to postgres failed", pg.dir.display());
        }
        let data = pg.data();
        pg.run(
            &pg.initdb.clone(),
            &[
                "--no-sync",
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "-D",
                &data,
            ],
        );
        pg.restart();
        pg
    }

    fn data(&self) -> String {
        self.dir.join("data").to_string_lossy().into_owned()
    }

    /// Runs a PostgreSQL program, as the `postgres` user when we are root; panics with
    /// its output if it fails.
    fn run(&self, program: &Path, args: &[&str]) {
        let mut cmd = if self.as_postgres_user {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        };
        let out = cmd
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
        assert!(
            out.status.success(),
            "{} {args:?} failed: {}{}",
            program.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The `postgres` database of the cluster.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// `pg_ctl stop -m fast`: clients are disconnected, the server shuts down cleanly.
    pub fn stop(&mut self) {
        let data = self.data();
        self.run(
            &self.pg_ctl.clone(),
            &["-D", &data, "-m", "fast", "-w", "-t", "60", "stop"],
        );
        self.running = false;
    }

    /// `pg_ctl start` on the same port, waiting until it accepts connections.
    pub fn restart(&mut self) {
        let data = self.data();
        let log = self.dir.join("postgres.log").to_string_lossy().into_owned();
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=40",
            self.port,
            self.dir.display()
        );
        self.run(
            &self.pg_ctl.clone(),
            &[
                "-D", &data, "-l", &log, "-w", "-t", "60", "-o", &options, "start",
            ],
        );
        self.running = true;
    }
}

impl Drop for ThrowawayPostgres {
    fn drop(&mut self) {
        if self.running {
            let mut cmd = if self.as_postgres_user {
                let mut c = Command::new("runuser");
                c.args(["-u", "postgres", "--"]).arg(&self.pg_ctl);
                c
            } else {
                Command::new(&self.pg_ctl)
            };
            let _ = cmd
                .args(["-D", &self.data(), "-m", "immediate", "-w", "stop"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A throwaway PostgreSQL (migrated) and Redis, and the environment of a server process
/// using them.
pub struct Stack {
    /// The PostgreSQL cluster.
    pub postgres: ThrowawayPostgres,
    /// The Redis server.
    pub redis: ThrowawayRedis,
    /// Settings for [`crate::ServerProcess::spawn`].
    pub env: HashMap<String, String>,
}

impl Stack {
    /// Starts both, migrates the database; `None` when the programs are missing outside
    /// CI (see [`Tools::find`]).
    pub async fn start() -> Option<Self> {
        let tools = Tools::find()?;
        let postgres = ThrowawayPostgres::start(&tools);
        let redis = ThrowawayRedis::start(&tools).await;
        adapter_postgres::run_migrations(&postgres.url())
            .await
            .expect("migrate the throwaway database");
        let mut env = crate::base_env();
        env.insert("DATABASE_URL".into(), postgres.url());
        env.insert("REDIS_URL".into(), redis.url());
        env.insert("AGORA_REDIS_PREFIX".into(), "faults:".into());
        Some(Self {
            postgres,
            redis,
            env,
        })
    }
}
