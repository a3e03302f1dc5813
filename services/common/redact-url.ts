/** A connection URL fit for logs: any password replaced by `***`; unparsable ones by `fallback`. */
export function redactUrl(url: string, fallback = "redis"): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "***";
    return parsed.toString();
  } catch {
    return fallback;
  }
}
