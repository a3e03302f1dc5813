// Query parameters whose values are credentials in the URLs people configure (`?key=`, SAS `sig=`…).
const secretQueryName = /key|token|secret|password|passwd|sig|auth|credential/i;
// `scheme://userinfo@` anywhere in a text; userinfo stops at what may not appear in it unescaped.
const credentialsInText = /\b([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@"'<>]*@/gi;

/**
 * A connection URL fit for logs: any user name and password replaced by `***`, and the values of
 * query parameters that look like credentials too; an unparsable one becomes `fallback` whole.
 */
export function redactUrl(url: string, fallback = "redis"): string {
  try {
    const parsed = new URL(url);
    if (parsed.username !== "" || parsed.password !== "") {
      parsed.username = "***";
      parsed.password = "";
    }
    for (const name of [...parsed.searchParams.keys()]) {
      if (secretQueryName.test(name)) parsed.searchParams.set(name, "***");
    }
    return parsed.toString();
  } catch {
    return fallback;
  }
}

/**
 * A text with the credentials of every URL in it (`http://user:secret@host`) replaced by `***`: the
 * last line of defence for messages that quote a URL someone configured.
 */
export function redactUrlCredentialsIn(text: string): string {
  return text.includes("@") ? text.replace(credentialsInText, "$1***@") : text;
}

// URLs, IPv4 and bracketed IPv6 addresses with an optional port: what transports quote of a peer.
const addressInText = /\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>]+|\b\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?\b|\[[0-9a-f:.]+\](?::\d{1,5})?/gi;

/**
 * A text relayed from inside the mesh with every address in it (`http://10.0.0.5:50061`,
 * `10.0.0.5:50061`, `[::1]:50061`) replaced by `[address]`: clients learn which backend failed by
 * its name, never where it runs.
 */
export function redactAddresses(text: string): string {
  return text.replace(addressInText, "[address]");
}

/**
 * Every form in which a URL's credentials may be echoed back: as written (percent-encoded), decoded,
 * `user:password`, and base64 of that (the Basic authorization IIR sends for them). Empty without any.
 */
export function urlCredentials(url: string): string[] {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return [];
  }
  if (parsed.username === "" && parsed.password === "") return [];
  const user = safeDecode(parsed.username);
  const password = safeDecode(parsed.password);
  const pair = `${user}:${password}`;
  const forms = [pair, `${parsed.username}:${parsed.password}`, Buffer.from(pair).toString("base64")];
  // With a password, the user name is usually an account name; without one it is the token itself.
  if (password !== "") forms.push(password, parsed.password);
  else forms.push(user, parsed.username);
  return [...new Set(forms.filter((form) => form !== "" && form !== ":"))];
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
