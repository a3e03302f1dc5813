import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { freePort, spawnTracked, stopChild, waitUntil } from "./child-processes.js";

/** Debian's nginx-light puts it here; the streams scenario skips nginx (with a note) without it. */
export const nginxPath = "/usr/sbin/nginx";

/** nginx proxying to the mock, run as a child process. */
export interface NginxProxy {
  /** Origin, e.g. http://127.0.0.1:40123. */
  readonly url: string;
  /** Its one process. */
  readonly pid: number;
  stop(): Promise<void>;
}

/**
 * A reverse proxy as nginx is set up in front of streaming APIs: proxy_buffering off (each upstream
 * read is sent on at once), HTTP/1.1 with a keep-alive pool to the upstream, no access log. One
 * process that is its own worker (master_process off), as the gateway is one event loop, and so that
 * killing it on the benchmark's exit leaves no orphaned worker. Every path nginx would write to is in
 * the temp directory.
 */
function nginxConfig(directory: string, port: number, upstream: URL): string {
  return `daemon off;
master_process off;
worker_rlimit_nofile 16384;
pid ${directory}/nginx.pid;
error_log stderr warn;
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path ${directory}/body;
  proxy_temp_path ${directory}/proxy;
  fastcgi_temp_path ${directory}/fastcgi;
  uwsgi_temp_path ${directory}/uwsgi;
  scgi_temp_path ${directory}/scgi;
  upstream mock {
    server ${upstream.host};
    keepalive 1024;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
  }
  server {
    listen 127.0.0.1:${port};
    keepalive_requests 1000000;
    keepalive_timeout 65s;
    location / {
      proxy_pass http://mock;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_request_buffering off;
      proxy_read_timeout 60s;
    }
  }
}
`;
}

/** Starts nginx in front of `upstream` (an origin) on a free loopback port; undefined when nginx is not installed. */
export async function startNginxProxy(upstream: string): Promise<NginxProxy | undefined> {
  if (!fs.existsSync(nginxPath)) return undefined;
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), "iir-bench-nginx-"));
  const port = await freePort();
  const configPath = path.join(directory, "nginx.conf");
  fs.writeFileSync(configPath, nginxConfig(directory, port, new URL(upstream)));
  // -e: errors before the config is read go to stderr too, not to /var/log/nginx.
  const child = spawnTracked(nginxPath, ["-p", directory, "-c", configPath, "-e", "stderr"], { stdio: ["ignore", "ignore", "inherit"], server: `nginx on port ${port}` });
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    // SIGTERM is nginx's fast shutdown; SIGQUIT would wait for open connections.
    await stopChild(child);
    fs.rmSync(directory, { recursive: true, force: true });
  };
  try {
    await waitUntil("nginx", child, async () => (await fetch(`${url}/count`)).ok, 10_000);
  } catch (error) {
    await stop();
    throw error;
  }
  return { url, pid: child.pid!, stop };
}
