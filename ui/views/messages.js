// Raven messages per channel, with unread counts, and the channel picker (the list is
// fetched from Rust when the picker is opened, cached there per environment).
import { S, $, el, fmtTime, gapLine, invoke, mark, view, saveView, BOUNDS } from "../store.js";

// The tags Rust's sanitiser keeps (sockeye_core::rich_text::TAGS); anything else is refused
// here too, so the page never builds an element it was not meant to.
const RICH_TAGS = new Set(["p", "br", "b", "strong", "i", "em", "u", "s", "code", "pre", "ul", "ol", "li", "blockquote", "a", "span"]);
const SAFE_HREF = /^(https?:|mailto:)/i;
const MAX_DEPTH = 16;

/** Build sanitised nodes (from Rust) as DOM, text through textContent only. */
export function richNodes(nodes, depth = 0) {
  const out = [];
  for (const n of nodes) {
    if (typeof n === "string") { out.push(document.createTextNode(n)); continue; }
    if (!n || !RICH_TAGS.has(n.tag) || depth > MAX_DEPTH) continue;
    const e = document.createElement(n.tag);
    if (n.tag === "a") {
      if (n.href && SAFE_HREF.test(n.href)) {
        e.href = n.href;
        e.title = n.href;
        e.addEventListener("click", (ev) => { ev.preventDefault(); invoke("open_link", { url: n.href }).catch(() => {}); });
      }
    } else if (n.tag === "span" && n.mention) {
      e.className = "mention";
      e.dataset.mention = n.mention;
    }
    e.append(...richNodes(n.children || [], depth + 1));
    out.push(e);
  }
  return out;
}

function messagesOf(env) {
  if (!S.messages.has(env)) S.messages.set(env, new Map());
  return S.messages.get(env);
}
let msgSeq = 0;
export function addMessage(m) {
  m.seq = ++msgSeq;
  if (m.gap) {
    // A gap marker belongs to every channel of its environment.
    const list = S.gaps.get(m.env) || [];
    list.push(m);
    if (list.length > BOUNDS.gapsPerEnv) list.shift();
    S.gaps.set(m.env, list);
    return;
  }
  const list = messagesOf(m.env).get(m.channel) || [];
  if (m.edited) {
    const i = list.findIndex((x) => x.id === m.id);
    if (i >= 0) list[i] = m;
    return;
  }
  list.push(m);
  if (list.length > BOUNDS.messagesPerChannel) list.shift();
  messagesOf(m.env).set(m.channel, list);
  if (!(S.tab === "messages" && m.env === S.active && (S.channel === null || S.channel === m.channel))) {
    const key = `${m.env}/${m.channel}`;
    S.unread.set(key, (S.unread.get(key) || 0) + 1);
  }
}
function clearUnread() {
  if (S.tab !== "messages") return;
  for (const key of [...S.unread.keys()]) {
    const i = key.indexOf("/");
    if (key.slice(0, i) === S.active && (S.channel === null || S.channel === key.slice(i + 1))) S.unread.delete(key);
  }
}
let shownItems = new Map();   // message view -> its list item, for the messages on screen
function messageRow(m) {
  if (m.gap) return el("li", { class: "msg gap", "data-tone": m.gap.tone, "data-gap": "1", text: gapLine(m.gap) });
  const text = m.rich?.length ? el("div", { class: "msg-text rich" }, ...richNodes(m.rich)) : el("div", { class: "msg-text", text: m.content });
  return el("li", { class: "msg" + (m.bot ? " bot" : ""), "data-message-id": m.id || "" },
    el("div", { class: "meta" }, el("strong", { class: "sender", text: m.sender }), el("span", { class: "muted", text: ` #${m.channel} · ${fmtTime(m.at_ms)}${m.edited ? " · edited" : ""}${m.recovered ? " · recovered" : ""}` })),
    text);
}

view("messages", "messages", () => {
  const env = S.active;
  const byChannel = messagesOf(env);
  const profile = S.envs.get(env)?.profile;
  const names = new Set([...(profile?.subscriptions?.channels || []), ...byChannel.keys()]);
  const pick = (c) => () => { S.channel = c; clearUnread(); mark("messages"); saveView(); };
  $("#channels").replaceChildren(el("li", { class: S.channel === null ? "selected" : "", text: "All channels", onclick: pick(null) }),
    ...[...names].sort().map((c) => {
      const n = S.unread.get(`${env}/${c}`) || 0;
      const li = el("li", { class: S.channel === c ? "selected" : "", "data-channel": c, onclick: pick(c) }, el("span", { text: "# " + c }));
      if (n) li.append(el("span", { class: "badge", text: String(n) }));
      return li;
    }));
  $("#channel-title").textContent = S.channel ? `# ${S.channel}` : "All channels";
  const msgs = S.channel ? [...(byChannel.get(S.channel) || [])] : [...byChannel.values()].flat();
  const count = msgs.length;
  msgs.push(...(S.gaps.get(env) || []));
  // Newest first; items of the same millisecond by arrival (a marker, then what it recovered).
  msgs.sort((a, b) => b.at_ms - a.at_ms || b.seq - a.seq);
  // Items on screen are kept and reused while they stay on screen (and only then: a list
  // item held for a message off screen would be a detached node kept alive).
  const next = new Map();
  const items = msgs.slice(0, BOUNDS.messagesShown).map((m) => { const li = shownItems.get(m) || messageRow(m); next.set(m, li); return li; });
  shownItems = next;
  $("#messages").replaceChildren(...items);
  $("#messages-bounds").textContent = `showing ${Math.min(count, BOUNDS.messagesShown)} of ${count} · the page keeps ${BOUNDS.messagesPerChannel} per channel, the app ${BOUNDS.keptInApp.messages} for a reopened window`;
  clearUnread();
  renderPicker();
});

// ---- channel picker: fetched on demand (focus / refresh), cached in Rust per environment ----
function renderPicker() {
  const sel = $("#channel-picker");
  const list = S.channelLists.get(S.active);
  const value = sel.value;
  sel.replaceChildren(el("option", { value: "", text: list ? "More channels…" : "More channels… (open to load)" }),
    ...(Array.isArray(list) ? list.map((c) => el("option", { value: c.id, text: `# ${c.label}` })) : []),
    ...(typeof list === "string" ? [el("option", { value: "", text: `(${list})`, disabled: true })] : []));
  sel.value = value;
}
async function loadChannels(refresh) {
  const env = S.active;
  if (!env || (!refresh && S.channelLists.has(env))) return;
  try { S.channelLists.set(env, await invoke("list_channels", { name: env, refresh })); }
  catch (err) { S.channelLists.set(env, String(err)); }
  if (env === S.active) renderPicker();
}
$("#channel-picker").addEventListener("focus", () => loadChannels(false));
$("#channel-picker").addEventListener("mousedown", () => loadChannels(false));
$("#channel-refresh").addEventListener("click", () => loadChannels(true));
$("#watch-channel").addEventListener("click", async () => {
  const ch = $("#channel-picker").value;
  if (!ch || !S.active) return;
  await invoke("watch_channel", { name: S.active, channel: ch });
  mark("messages");
});
