// The dashboard's only door to the server: the public JSON API, with the session's
// tokens kept in sessionStorage (this tab only, gone when it closes). An access
// token about to expire, or a 401, triggers one refresh; a failed refresh ends the
// session and sends the reader to the login page.

const STORE_KEY = "scheduler.session";
const REFRESH_MARGIN_MS = 20000;

/** An API error: ``message`` is the server's sentence, ready to show. */
export class ApiError extends Error {
  constructor(status, message, path) {
    super(message);
    this.status = status;
    this.path = path;
  }
}

let session = readSession();
let refreshing = null;
const listeners = new Set();

function readSession() {
  try {
    return JSON.parse(sessionStorage.getItem(STORE_KEY)) || null;
  } catch {
    return null;
  }
}

function saveSession(value) {
  session = value;
  if (value) sessionStorage.setItem(STORE_KEY, JSON.stringify(value));
  else sessionStorage.removeItem(STORE_KEY);
}

/** Called with a reason when the session ends without the reader asking. */
export function onSessionLost(listener) {
  listeners.add(listener);
}

export function currentUser() {
  return session ? session.user : null;
}

export function isLoggedIn() {
  return Boolean(session && session.access_token);
}

function tokenExpiry(token) {
  try {
    const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(payload)).exp * 1000;
  } catch {
    return 0;
  }
}

function wordsFor(status, message) {
  if (message) return message;
  if (status === 0) return "Cannot reach the server. Check that it is running and try again.";
  return `The server answered with status ${status}.`;
}

async function send(method, path, {body, query, token} = {}) {
  const url = new URL(path, window.location.origin);
  for (const [key, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, value);
  }
  const headers = {Accept: "application/json"};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(url, {method, headers, cache: "no-store",
      body: body === undefined ? undefined : JSON.stringify(body)});
  } catch {
    throw new ApiError(0, wordsFor(0), path);
  }
  let envelope = null;
  try {
    envelope = await response.json();
  } catch {
    envelope = null;
  }
  if (!response.ok) {
    let message = wordsFor(response.status, envelope && envelope.message);
    const retry = response.headers.get("Retry-After");
    if (response.status === 429 && retry) message += ` (retry in ${retry} s)`;
    throw new ApiError(response.status, message, path);
  }
  const total = response.headers.get("X-Total-Count");
  return {
    status: response.status,
    message: envelope ? envelope.message : "",
    data: envelope ? envelope.data : undefined,
    total: total === null ? null : Number(total),
  };
}

function endSession(reason) {
  saveSession(null);
  for (const listener of listeners) listener(reason);
}

/** Trades the refresh token for a new pair; shared by concurrent callers. */
function refresh() {
  if (!refreshing) {
    const refreshToken = session && session.refresh_token;
    refreshing = send("POST", "/refresh/token", {body: {refresh_token: refreshToken}})
      .then((reply) => {
        saveSession({...session, ...reply.data});
        return true;
      })
      .catch(() => {
        endSession("Your session has expired. Please log in again.");
        return false;
      })
      .finally(() => { refreshing = null; });
  }
  return refreshing;
}

/**
 * Calls the API as the logged-in user: ``api("GET", "/fetch", {query: {limit: 25}})``.
 * Resolves to ``{status, message, data, total}``; rejects with an ApiError.
 */
export async function api(method, path, options = {}) {
  if (!isLoggedIn()) throw new ApiError(401, "Please log in first.", path);
  if (tokenExpiry(session.access_token) - Date.now() < REFRESH_MARGIN_MS) await refresh();
  if (!isLoggedIn()) throw new ApiError(401, "Your session has expired. Please log in again.", path);
  try {
    return await send(method, path, {...options, token: session.access_token});
  } catch (error) {
    if (error.status !== 401) throw error;
    if (!(await refresh())) throw error;
    return send(method, path, {...options, token: session.access_token});
  }
}

/** Logs in with a username or e-mail and a password, then loads the profile. */
export async function login(identifier, password) {
  const reply = await send("POST", "/login", {body: {identifier, password}});
  saveSession({...reply.data, user: null});
  const me = await api("GET", "/user/me");
  saveSession({...session, user: me.data});
  return me.data;
}

/** Reloads the profile of the logged-in user (after editing it). */
export async function reloadUser() {
  const me = await api("GET", "/user/me");
  saveSession({...session, user: me.data});
  return me.data;
}

/** Revokes this session's tokens on the server and forgets them here. */
export async function logout() {
  if (!session) return;
  if (tokenExpiry(session.access_token) - Date.now() < REFRESH_MARGIN_MS) await refresh();
  if (!session) return;
  const {access_token: access, refresh_token: refreshToken} = session;
  saveSession(null);
  try {
    await send("POST", "/logout", {body: {refresh_token: refreshToken}, token: access});
  } catch (error) {
    // The tokens are forgotten here either way; say so in the console for the curious.
    console.warn("logout:", error.message);
  }
}
