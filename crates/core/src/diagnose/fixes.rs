//! The fix, not just the finding: for each cause a ready-to-paste snippet (nginx, Traefik
//! labels, `common_site_config.json` keys, shell commands) with the values the probes
//! detected filled in: site name, public host, realtime and web ports.

use serde::Serialize;

use super::hints::Symptom;
use crate::url_rules::DeploymentType;

/// What a snippet is, which says where it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FixKind {
    /// Inside the site's nginx `server { … }` block.
    NginxServer,
    /// At nginx's `http { … }` level (an `upstream` or a whole `server`).
    NginxHttp,
    /// Keys of `sites/common_site_config.json`.
    Json,
    /// Commands on the server (or this machine).
    Shell,
    /// docker compose / Kubernetes YAML (Traefik labels, extra_hosts, sessionAffinity).
    Yaml,
    /// A Caddyfile site block.
    Caddy,
    /// Sockeye's own settings for this environment.
    Sockeye,
}

/// One ready-to-paste fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fix {
    pub kind: FixKind,
    /// Where it goes and what it changes, in one line.
    pub title: String,
    pub snippet: String,
}

fn fix(kind: FixKind, title: impl Into<String>, snippet: impl Into<String>) -> Fix {
    Fix { kind, title: title.into(), snippet: snippet.into() }
}

/// The values the probes detected, for filling the snippets in.
#[derive(Debug, Clone)]
pub struct FixContext {
    /// Frappe site name (the namespace without `/`).
    pub site: String,
    /// The public host name the browser uses.
    pub host: String,
    /// The site URL (`scheme://host[:port]`).
    pub site_url: String,
    /// The realtime server's port on the server host.
    pub realtime_port: u16,
    /// The web process's port on the server host (gunicorn, 8000 on a bench).
    pub web_port: u16,
    /// Other ports that answered Socket.IO.
    pub alternatives: Vec<u16>,
    /// Where the pingInterval + pingTimeout of the server puts the proxy timeout floor (s).
    pub heartbeat_secs: u64,
    pub deployment: DeploymentType,
    /// The Raven channel of `--roundtrip`, when given.
    pub channel: Option<String>,
}

impl FixContext {
    /// A read timeout comfortably above the heartbeat (the nginx default 60 s is fine for
    /// 25 + 20 s, but not for every hop).
    fn read_timeout(&self) -> u64 {
        (self.heartbeat_secs * 2).max(120)
    }
}

/// The bench template's `location /socket.io` with every header Frappe's realtime server
/// checks, plus timeouts above the heartbeat. `origin_scheme` is `$scheme`, or
/// `$http_x_forwarded_proto` behind a TLS terminator (C20).
pub fn nginx_socketio_location(c: &FixContext, origin_scheme: &str, upstream: &str) -> String {
    format!(
        "location /socket.io {{
    proxy_http_version 1.1;
    proxy_set_header Upgrade $http_upgrade;
    proxy_set_header Connection \"upgrade\";
    proxy_set_header X-Frappe-Site-Name {site};
    proxy_set_header Origin {origin_scheme}://$http_host;
    proxy_set_header Host $host;
    proxy_read_timeout {t}s;
    proxy_send_timeout {t}s;
    proxy_pass {upstream};
}}",
        site = c.site,
        t = c.read_timeout(),
    )
}

fn local_upstream(c: &FixContext) -> String {
    format!("http://127.0.0.1:{}", c.realtime_port)
}

fn socketio_block(c: &FixContext) -> Fix {
    fix(
        FixKind::NginxServer,
        format!(
            "nginx: route /socket.io to the realtime server on port {} (in the server block of {}; then `sudo nginx -t && sudo systemctl reload nginx`)",
            c.realtime_port, c.host
        ),
        nginx_socketio_location(c, "$scheme", &local_upstream(c)),
    )
}

fn traefik_labels(c: &FixContext) -> Fix {
    let name = c.site.replace('.', "-");
    fix(
        FixKind::Yaml,
        "Traefik (docker compose labels on the realtime container): a router for /socket.io with the site's Host",
        format!(
            "labels:
  - traefik.enable=true
  - traefik.http.routers.{name}-socketio.rule=Host(`{host}`) && PathPrefix(`/socket.io`)
  - traefik.http.routers.{name}-socketio.service={name}-socketio
  - traefik.http.routers.{name}-socketio.middlewares={name}-site
  - traefik.http.middlewares.{name}-site.headers.customrequestheaders.X-Frappe-Site-Name={site}
  - traefik.http.services.{name}-socketio.loadbalancer.server.port={port}
  - traefik.http.services.{name}-socketio.loadbalancer.sticky.cookie=true",
            host = c.host,
            site = c.site,
            port = c.realtime_port
        ),
    )
}

/// Seed 003's option A: one local port serving both the web app and /socket.io, so one ngrok
/// tunnel carries the whole site.
fn sandbox_multiplexer(c: &FixContext) -> Vec<Fix> {
    vec![
        fix(
            FixKind::NginxHttp,
            "nginx multiplexer for a sandbox: one port (8080) for the web app and /socket.io",
            format!(
                "server {{
    listen 127.0.0.1:8080;
    {location}
    location / {{
        proxy_set_header Host {site};
        proxy_set_header X-Forwarded-Proto $http_x_forwarded_proto;
        proxy_pass http://127.0.0.1:{web};
    }}
}}",
                location = nginx_socketio_location(c, "$scheme", &local_upstream(c))
                    .replace('\n', "\n    "),
                site = c.site,
                web = c.web_port
            ),
        ),
        fix(FixKind::Shell, "then tunnel that one port", "ngrok http 8080"),
    ]
}

fn site_config(c: &FixContext, keys: &[(&str, String)], why: &str) -> Fix {
    let body: Vec<String> = keys.iter().map(|(k, v)| format!("  \"{k}\": {v}")).collect();
    let _ = c;
    fix(
        FixKind::Json,
        format!(
            "sites/common_site_config.json (the realtime server reads only this file and config.json): {why}; then `bench restart`"
        ),
        format!("{{\n{}\n}}", body.join(",\n")),
    )
}

fn quoted(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

fn hosts_entry(c: &FixContext) -> Fix {
    fix(
        FixKind::Shell,
        format!(
            "make {} resolve on the server itself (the realtime server calls the web app back at that name)",
            c.host
        ),
        format!(
            "bench --site {site} add-to-hosts\n# or by hand:\necho \"127.0.0.1 {host}\" | sudo tee -a /etc/hosts",
            site = c.site,
            host = c.host
        ),
    )
}

fn docker_extra_hosts(c: &FixContext) -> Fix {
    fix(
        FixKind::Yaml,
        "docker compose: let the realtime (websocket) container reach the web app by the site's name",
        format!(
            "services:\n  websocket:\n    extra_hosts:\n      - \"{host}:host-gateway\"",
            host = c.host
        ),
    )
}

/// The fixes for a finding, by its symptom and cause.
pub fn fixes_for(symptom: Symptom, cause: Option<&str>, c: &FixContext) -> Vec<Fix> {
    use Symptom::*;
    let web = c.web_port.to_string();
    match (symptom, cause) {
        (RouteMissing, _) if c.deployment == DeploymentType::Sandbox => {
            let mut v = sandbox_multiplexer(c);
            v.push(socketio_block(c));
            v
        }
        (RouteMissing, _) | (UpgradeBlocked, _) => vec![socketio_block(c), traefik_labels(c)],
        (UpstreamDown, _) => vec![fix(
            FixKind::Shell,
            "start the realtime process (production: supervisor; development: `bench start`, not `bench serve`)",
            format!(
                "sudo supervisorctl status | grep -i socketio\nsudo supervisorctl restart all   # or: bench restart\ntail -n 50 logs/node-socketio.error.log\n# it must listen on {port}:\nss -ltnp | grep :{port}",
                port = c.realtime_port
            ),
        )],
        (PortClosed, _) => {
            let port = c.alternatives.first().copied().unwrap_or(9000);
            vec![
                site_config(
                    c,
                    &[("socketio_port", port.to_string())],
                    &format!(
                        "the port the realtime server listens on (it defaults to 3000 when unset; it answers on {port})"
                    ),
                ),
                fix(
                    FixKind::Sockeye,
                    "or point this environment at the port that answers",
                    format!("sockeye-cli diagnose --url {} --socket-port {port}", c.site_url),
                ),
            ]
        }
        (InvalidOrigin, Some("C1"))
        | (InvalidOrigin, Some("C2"))
        | (InvalidOrigin, Some("C19")) => {
            vec![
                socketio_block(c),
                fix(
                    FixKind::Caddy,
                    "Caddy instead of nginx: pass the browser's Host through",
                    format!(
                        "handle /socket.io/* {{\n    reverse_proxy 127.0.0.1:{} {{\n        header_up Host {{host}}\n        header_up X-Frappe-Site-Name {}\n    }}\n}}",
                        c.realtime_port, c.site
                    ),
                ),
            ]
        }
        (InvalidOrigin, Some("C20")) => vec![fix(
            FixKind::NginxServer,
            "nginx behind a TLS terminator: build the Origin from X-Forwarded-Proto",
            nginx_socketio_location(c, "$http_x_forwarded_proto", &local_upstream(c)),
        )],
        (InvalidOrigin, _) => vec![fix(
            FixKind::Sockeye,
            "send an Origin whose host is the site's (it is also where the realtime server calls back)",
            format!("sockeye-cli diagnose --url {} --origin {}", c.site_url, c.site_url),
        )],
        (InvalidNamespace, _) => vec![
            fix(
                FixKind::Sockeye,
                "use the bench's site name as the namespace (on a bench addressed as localhost/127.0.0.1 it is default_site)",
                format!(
                    "sockeye-cli diagnose --url {} --site <site folder name under sites/>",
                    c.site_url
                ),
            ),
            fix(
                FixKind::NginxServer,
                "multi-site benches: the proxy names the site",
                format!("proxy_set_header X-Frappe-Site-Name {};", c.site),
            ),
        ],
        (NoCredentials, _) | (GuestSession, _) => vec![fix(
            FixKind::Sockeye,
            "give credentials that the web app accepts (an API key survives session expiry)",
            format!(
                "sockeye-cli env set-secret <env>   # or: --token KEY:SECRET / --user USER --password-stdin\nsockeye-cli diagnose --url {} --token KEY:SECRET",
                c.site_url
            ),
        )],
        (Unauthorized, Some("C7")) => vec![
            fix(
                FixKind::NginxServer,
                "exempt the realtime callbacks from the front door (SSO, auth_basic, IP allow-list) in the site's server block",
                format!(
                    "location ^~ /api/method/frappe.realtime. {{\n    auth_basic off;\n    satisfy any;\n    allow 127.0.0.1;\n    allow ::1;\n    proxy_set_header Host $host;\n    proxy_pass http://127.0.0.1:{web};\n}}"
                ),
            ),
            site_config(
                c,
                &[("server_ip", quoted("127.0.0.1")), ("webserver_port", web.clone())],
                "or let the realtime server call the web process directly, behind the front door (newest Frappe)",
            ),
        ],
        (Unauthorized, Some("C4")) => vec![
            hosts_entry(c),
            site_config(
                c,
                &[("server_ip", quoted("127.0.0.1")), ("webserver_port", web.clone())],
                "or have the realtime server call the web process directly",
            ),
            docker_extra_hosts(c),
        ],
        (Unauthorized, Some("C5")) => vec![site_config(
            c,
            &[("developer_mode", "0".into()), ("webserver_port", web.clone())],
            "developer_mode makes the callback use webserver_port on the Origin's host: turn it off, or make webserver_port the port the web process really listens on",
        )],
        (Unauthorized, Some("C6")) => vec![fix(
            FixKind::Shell,
            "make the realtime server trust the site's CA (supervisor: add to the node-socketio program's environment)",
            "environment=NODE_EXTRA_CA_CERTS=\"/etc/ssl/private-ca.pem\"\n# then: sudo supervisorctl update && sudo supervisorctl restart all",
        )],
        (Unauthorized, Some("C21")) => vec![fix(
            FixKind::Shell,
            "localhost resolves to ::1 first for Node, while the web process listens on 127.0.0.1 only",
            "# prefer IPv4 for the realtime server (supervisor program environment):\nenvironment=NODE_OPTIONS=\"--dns-result-order=ipv4first\"\n# or bind the web process on both: gunicorn -b [::]:PORT, or use 127.0.0.1 in the Origin/host_name",
        )],
        (NoStickySessions, _) => vec![
            fix(
                FixKind::NginxHttp,
                "nginx: pin each client to one realtime server (http level), and proxy_pass http://frappe_realtime in location /socket.io",
                {
                    let mut servers = vec![c.realtime_port];
                    servers
                        .extend(c.alternatives.iter().copied().filter(|p| *p != c.realtime_port));
                    if servers.len() == 1 {
                        servers.push(c.realtime_port + 1);
                    }
                    let lines: Vec<String> =
                        servers.iter().map(|p| format!("    server 127.0.0.1:{p};")).collect();
                    format!("upstream frappe_realtime {{\n    ip_hash;\n{}\n}}", lines.join("\n"))
                },
            ),
            fix(
                FixKind::Yaml,
                "Kubernetes / helm: keep a client on one pod",
                "spec:\n  sessionAffinity: ClientIP",
            ),
            fix(
                FixKind::Yaml,
                "Traefik: sticky cookie on the realtime service",
                format!(
                    "  - traefik.http.services.{}-socketio.loadbalancer.sticky.cookie=true",
                    c.site.replace('.', "-")
                ),
            ),
        ],
        (IdleDrops, _) => vec![fix(
            FixKind::NginxServer,
            format!(
                "raise the proxy's idle timeout above the heartbeat ({} s) in location /socket.io",
                c.heartbeat_secs
            ),
            format!(
                "proxy_read_timeout {t}s;\nproxy_send_timeout {t}s;\n# HAProxy: timeout tunnel {t}s   Cloudflare/ALB: idle timeout > {h} s",
                t = c.read_timeout(),
                h = c.heartbeat_secs
            ),
        )],
        (MixedContent, _) => vec![site_config(
            c,
            &[("host_name", quoted(&c.site_url))],
            "the site's public https URL; browsers then use https://host/socket.io through the proxy, not http://host:9000",
        )],
        (OldProtocol, _) => vec![fix(
            FixKind::Shell,
            "upgrade the realtime server to Socket.IO 4 (Frappe ≥ v14 ships socket.io 4; an old image or node_modules keeps 2.x)",
            "cd ~/frappe-bench && bench setup requirements --node && bench restart",
        )],
        (Deaf, _) => vec![
            fix(
                FixKind::Shell,
                "restart the realtime and web processes together (they share the socket secret through redis_queue)",
                "bench restart   # or: sudo supervisorctl restart all",
            ),
            site_config(
                c,
                &[("redis_queue", quoted("redis://127.0.0.1:11000"))],
                "the web workers and the realtime server must use the same redis_queue",
            ),
        ],
        (NoEvents, Some("C23")) => vec![fix(
            FixKind::Shell,
            "give the user read permission on the channel (Raven: make them a member; or share the document)",
            format!(
                "bench --site {site} execute frappe.share.add --kwargs '{{\"doctype\": \"Raven Channel\", \"name\": \"{channel}\", \"user\": \"<user>\", \"read\": 1}}'",
                site = c.site,
                channel = c.channel.as_deref().unwrap_or("<channel>")
            ),
        )],
        (NoEvents, Some("C11")) => vec![
            site_config(
                c,
                &[("redis_queue", quoted("redis://127.0.0.1:11000"))],
                "web workers publish on redis_queue's `events` channel and the realtime server listens there: the same URL for both",
            ),
            fix(
                FixKind::Shell,
                "check that the realtime server listens on that redis (1 subscriber expected)",
                "redis-cli -u redis://127.0.0.1:11000 PUBSUB NUMSUB events",
            ),
        ],
        (TlsError, _) => vec![fix(
            FixKind::Sockeye,
            "trust the site's CA for this environment (or renew / fix the certificate on the server)",
            format!("sockeye-cli diagnose --url {} --ca-file /path/to/ca.pem", c.site_url),
        )],
        (WebUnreachable, _) => vec![fix(
            FixKind::Sockeye,
            "give the URL where the web app answers (and the realtime port separately)",
            format!(
                "sockeye-cli diagnose --url http://127.0.0.1:{web} --socket-port {}   # or --origin http://127.0.0.1:{web}",
                c.realtime_port
            ),
        )],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> FixContext {
        FixContext {
            site: "erp.example.com".into(),
            host: "erp.example.com".into(),
            site_url: "https://erp.example.com".into(),
            realtime_port: 9000,
            web_port: 8000,
            alternatives: vec![9001],
            heartbeat_secs: 45,
            deployment: DeploymentType::VpsProd,
            channel: None,
        }
    }

    #[test]
    fn snippets_carry_the_detected_values() {
        let c = ctx();
        let f = fixes_for(Symptom::RouteMissing, None, &c);
        assert!(f[0].snippet.contains("X-Frappe-Site-Name erp.example.com;"));
        assert!(f[0].snippet.contains("proxy_pass http://127.0.0.1:9000;"));
        assert!(f[1].snippet.contains("Host(`erp.example.com`) && PathPrefix(`/socket.io`)"));
        assert!(f[1].snippet.contains("loadbalancer.server.port=9000"));
        let f = fixes_for(Symptom::PortClosed, None, &c);
        assert!(f[0].snippet.contains("\"socketio_port\": 9001"), "{f:#?}");
        let f = fixes_for(Symptom::NoStickySessions, None, &c);
        assert!(f[0].snippet.contains("ip_hash;") && f[0].snippet.contains(":9001;"));
        let f = fixes_for(Symptom::Unauthorized, Some("C4"), &c);
        assert!(f[0].snippet.contains("bench --site erp.example.com add-to-hosts"));
        assert!(f[1].snippet.contains("\"server_ip\": \"127.0.0.1\""));
        let f = fixes_for(
            Symptom::RouteMissing,
            None,
            &FixContext { deployment: DeploymentType::Sandbox, ..c },
        );
        assert!(f[1].snippet.starts_with("ngrok http 8080"));
        // Every JSON snippet parses.
        for s in [Symptom::PortClosed, Symptom::MixedContent, Symptom::Deaf, Symptom::Unauthorized]
        {
            for cause in [None, Some("C4"), Some("C5"), Some("C7"), Some("C11")] {
                for f in fixes_for(s, cause, &ctx()).iter().filter(|f| f.kind == FixKind::Json) {
                    serde_json::from_str::<serde_json::Value>(&f.snippet)
                        .unwrap_or_else(|e| panic!("{}: {e}", f.snippet));
                }
            }
        }
    }
}
