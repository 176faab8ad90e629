//! A small SMTP sink for tests (feature `testing`): it listens on loopback, speaks just
//! enough SMTP (220, EHLO, MAIL, RCPT, DATA, QUIT) and hands back the envelope and the
//! message of every transaction.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test support: failing loudly is the point

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// What one SMTP transaction delivered.
#[derive(Debug)]
pub struct Delivery {
    /// The `MAIL FROM` and `RCPT TO` lines.
    pub envelope: Vec<String>,
    /// The message between `DATA` and the lone dot, dot-unstuffed.
    pub data: String,
}

/// Starts a sink on 127.0.0.1; `rcpt_reply` is its answer to `RCPT TO` (a 4xx or 5xx to
/// refuse). Returns the port and the deliveries as they complete.
pub async fn sink(rcpt_reply: &'static str) -> (u16, mpsc::UnboundedReceiver<Delivery>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                return;
            };
            let tx = tx.clone();
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 sink.test ESMTP\r\n").await.unwrap();
                let mut envelope = Vec::new();
                while let Ok(Some(line)) = lines.next_line().await {
                    let verb = line
                        .split([' ', ':'])
                        .next()
                        .unwrap_or("")
                        .to_ascii_uppercase();
                    let reply: &str = match verb.as_str() {
                        "EHLO" | "HELO" => "250 sink.test\r\n",
                        "MAIL" => {
                            envelope.push(line.clone());
                            "250 OK\r\n"
                        }
                        "RCPT" => {
                            envelope.push(line.clone());
                            rcpt_reply
                        }
                        "DATA" => {
                            write.write_all(b"354 go ahead\r\n").await.unwrap();
                            let mut data = String::new();
                            while let Ok(Some(l)) = lines.next_line().await {
                                if l == "." {
                                    break;
                                }
                                // dot-stuffing (RFC 5321 §4.5.2)
                                data.push_str(l.strip_prefix('.').unwrap_or(&l));
                                data.push('\n');
                            }
                            let _ = tx.send(Delivery {
                                envelope: std::mem::take(&mut envelope),
                                data,
                            });
                            "250 queued\r\n"
                        }
                        "QUIT" => {
                            let _ = write.write_all(b"221 bye\r\n").await;
                            return;
                        }
                        _ => "250 OK\r\n",
                    };
                    if write.write_all(reply.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (port, rx)
}
