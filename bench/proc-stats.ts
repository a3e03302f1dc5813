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

/** User plus system CPU time of a process, all its threads together, in seconds (/proc/PID/stat, clock ticks of 10 ms). */
export function cpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
  // The fields after the command name, which may itself hold spaces and parentheses; utime and stime are the 14th and 15th.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** `pid` and every process below it (any a gateway starts: their CPU time counts too), from the parent ids in /proc. */
export function processTree(pid: number): number[] {
  const parents = new Map<number, number[]>();
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
      const parent = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      parents.set(parent, [...(parents.get(parent) ?? []), Number(entry)]);
    } catch {
      // it exited while we looked
    }
  }
  const tree = [pid];
  for (let index = 0; index < tree.length; index++) tree.push(...(parents.get(tree[index]!) ?? []));
  return tree;
}

/**
 * Sets a process's peak resident memory (VmHWM) back to what it holds now, so the peak read after a
 * run is that run's (`echo 5 > /proc/PID/clear_refs`, Linux ≥ 4.0). False where the kernel refuses.
 */
export function resetPeakMemory(pid: number): boolean {
  try {
    fs.writeFileSync(`/proc/${pid}/clear_refs`, "5");
    return true;
  } catch {
    return false;
  }
}
