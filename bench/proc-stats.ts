import fs from "node:fs";

/** Resident memory of a process in MB of 10⁶ bytes (VmRSS), and its peak (VmHWM). */
export function residentMemoryMB(pid: number): { rss: number; peak: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? Number.NaN);
  return { rss: (kib("VmRSS") * 1024) / 1e6, peak: (kib("VmHWM") * 1024) / 1e6 };
}

/**
 * TCP connections in state ESTABLISHED that process `pid` holds to `remotePort` on loopback: its
 * socket inodes (from /proc/PID/fd) matched against the kernel's socket table (/proc/PID/net/tcp*).
 */
export function establishedConnections(pid: number, remotePort: number): number {
  const inodes = new Set<string>();
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    try {
      const target = fs.readlinkSync(`/proc/${pid}/fd/${fd}`);
      const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
      if (inode !== undefined) inodes.add(inode);
    } catch {
      // the descriptor closed while we looked
    }
  }
  let count = 0;
  for (const table of ["tcp", "tcp6"]) {
    const path = `/proc/${pid}/net/${table}`;
    if (!fs.existsSync(path)) continue;
    for (const row of fs.readFileSync(path, "utf8").split("\n").slice(1)) {
      // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
      const fields = row.trim().split(/\s+/);
      const remote = fields[2];
      const established = fields[3] === "01";
      if (remote === undefined || !established || !inodes.has(fields[9] ?? "")) continue;
      if (Number.parseInt(remote.split(":")[1] ?? "", 16) === remotePort) count++;
    }
  }
  return count;
}

/** Samples `measure` every `intervalMs` while `work` runs; resolves with the work's result and the largest sample. */
export async function sampleWhile<T>(work: Promise<T>, measure: () => number, intervalMs = 250): Promise<{ result: T; max: number }> {
  let max = 0;
  const take = () => {
    try {
      max = Math.max(max, measure());
    } catch {
      // the process may be gone; the work's own result tells
    }
  };
  const timer = setInterval(take, intervalMs);
  try {
    const result = await work;
    take();
    return { result, max };
  } finally {
    clearInterval(timer);
  }
}
