// LocalSlack's page: shows what one person sees in the workspace and lets them act as Slack would.
// Plain browser JavaScript, no build step. State comes from a long poll on /localslack/ui/state;
// actions go to /localslack/ui/<action>, which deliver signed requests to the bot.
"use strict";

(() => {
  const POLL_WAIT_SECONDS = 1.5;
  const RETRY_MS = 1000;
  const REQUIRED_MESSAGE = "Please complete this required field.";
  const EMOJI = {
    "+1": "👍", thumbsup: "👍", "-1": "👎", white_check_mark: "✅", heavy_check_mark: "✔️", x: "❌",
    warning: "⚠️", rotating_light: "🚨", fire: "🔥", eyes: "👀", tada: "🎉", lock: "🔒", bell: "🔔",
    hourglass: "⌛", hourglass_flowing_sand: "⏳", pushpin: "📌", memo: "📝", mag: "🔍", shield: "🛡️",
    robot_face: "🤖", point_right: "👉", arrow_up: "⬆️", arrow_down: "⬇️", no_entry: "⛔", red_circle: "🔴",
    large_orange_circle: "🟠", large_yellow_circle: "🟡", large_blue_circle: "🔵", large_green_circle: "🟢",
    information_source: "ℹ️", link: "🔗", clipboard: "📋", house: "🏠", speech_balloon: "💬", sos: "🆘",
    heavy_plus_sign: "➕", repeat: "🔁", stopwatch: "⏱️", calendar: "📅", bulb: "💡", question: "❓",
    exclamation: "❗", skull: "💀", test_tube: "🧪", microscope: "🔬", biohazard_sign: "☣️",
  };

  // ------------------------------------------------------------------ state of the page

  const params = new URLSearchParams(window.location.search);
  // Who is acting is remembered across tabs, as Slack keeps you signed in: a permalink opened in a new tab (it has
  // no ?as=) shows the message to the same person.
  const ACTING_KEY = "localslack.as";
  function rememberedUser() {
    try {
      return window.localStorage.getItem(ACTING_KEY);
    } catch (err) {
      return null;
    }
  }
  function rememberUser(id) {
    try {
      if (id) window.localStorage.setItem(ACTING_KEY, id);
    } catch (err) {
      // storage refused (a private window): each tab then starts as its ?as= or the first person
    }
  }
  const ui = {
    me: params.get("as") || rememberedUser() || null,
    place: params.get("home") === "1" ? { kind: "home" } : { kind: "channel", id: params.get("channel") },
    thread: params.get("thread") ? { channel: params.get("channel"), ts: params.get("thread") } : null,
    // The message a permalink points at (/archives/... redirects here with ?message=): highlighted, scrolled to once.
    highlight: params.get("message") && params.get("channel") ? { channel: params.get("channel"), ts: params.get("message"), scrolled: false } : null,
    state: null,
    version: -1,
    poller: null,
    drafts: new Map(),
    seen: new Map(),
    dismissed: new Set(),
    modalKey: null,
    clientErrors: {},
    submitting: false,
    homeAskedFor: null,
    renderedFor: null,
  };
  const sigs = new WeakMap();
  const buttonInfo = new WeakMap();

  const $ = (id) => document.getElementById(id);

  // Small inline icons, so the page does not depend on an emoji font being installed.
  const ICONS = {
    lock: '<path d="M4.5 7V5a3.5 3.5 0 0 1 7 0v2h.5a1 1 0 0 1 1 1v6a1 1 0 0 1-1 1H4a1 1 0 0 1-1-1V8a1 1 0 0 1 1-1h.5zm1.5 0h4V5a2 2 0 0 0-4 0v2z"/>',
    bubble: '<path d="M2 3.5A1.5 1.5 0 0 1 3.5 2h9A1.5 1.5 0 0 1 14 3.5v6a1.5 1.5 0 0 1-1.5 1.5H7l-3 3v-3h-.5A1.5 1.5 0 0 1 2 9.5v-6z"/>',
    eye: '<path d="M8 3C4.5 3 2 6 1 8c1 2 3.5 5 7 5s6-3 7-5c-1-2-3.5-5-7-5zm0 8a3 3 0 1 1 0-6 3 3 0 0 1 0 6zm0-1.5a1.5 1.5 0 1 0 0-3 1.5 1.5 0 0 0 0 3z"/>',
    file: '<path d="M4 1h5l4 4v9a1 1 0 0 1-1 1H4a1 1 0 0 1-1-1V2a1 1 0 0 1 1-1zm5 1.5V5h2.5L9 2.5z"/>',
  };

  function icon(name) {
    return el("span", { class: `icon icon-${name}`, "aria-hidden": "true", html: `<svg viewBox="0 0 16 16" width="14" height="14" fill="currentColor">${ICONS[name]}</svg>` });
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "html") node.innerHTML = value;
      else if (key === "text") node.textContent = value;
      else if (key.startsWith("data-") || key.startsWith("aria-") || key === "role" || key === "for") {
        node.setAttribute(key, value === true ? "" : String(value));
      } else node[key] = value;
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  const delay = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  // ------------------------------------------------------------------ lookups

  const users = () => (ui.state ? ui.state.users : []);
  const people = () => users().filter((u) => !u.is_bot);
  const userById = (id) => users().find((u) => u.id === id);
  const channels = () => (ui.state ? ui.state.channels : []);
  const channelById = (id) => channels().find((c) => c.id === id);
  const myTz = () => (ui.state && ui.state.me ? ui.state.me.tz : "UTC");
  const displayName = (u) => (u ? u.display_name || u.name : "unknown");
  const features = () => (ui.state ? ui.state.features : { slash_commands: [], message_shortcuts: [] });

  function channelLabel(channel) {
    if (!channel) return "";
    if (channel.is_im) return ui.state.app.name;
    return channel.name;
  }

  // ------------------------------------------------------------------ text: escaping, mrkdwn, dates

  function esc(value) {
    return String(value)
      .replace(/&/g, "&amp;")
      .replace(/</g, "&lt;")
      .replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;")
      .replace(/'/g, "&#39;");
  }

  // Slack escapes only these three in message text; they stand for the literal characters.
  const unslack = (value) => String(value).replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");

  function emojify(html) {
    return html.replace(/:([a-z0-9_+-]+):/g, (whole, name) => EMOJI[name] || whole);
  }

  function plainHtml(textObject) {
    if (!textObject) return "";
    const text = typeof textObject === "string" ? textObject : textObject.text || "";
    const html = esc(text);
    return textObject.emoji === false ? html : emojify(html);
  }

  function textHtml(textObject) {
    if (!textObject) return "";
    return textObject.type === "mrkdwn" ? mrkdwn(textObject.text) : plainHtml(textObject);
  }

  const ordinal = (n) => {
    const rest = n % 100;
    if (rest >= 11 && rest <= 13) return `${n}th`;
    return `${n}${{ 1: "st", 2: "nd", 3: "rd" }[n % 10] || "th"}`;
  };

  function formatter(tz, options) {
    try {
      return new Intl.DateTimeFormat("en-US", { timeZone: tz, ...options });
    } catch (err) {
      return new Intl.DateTimeFormat("en-US", { timeZone: "UTC", ...options });
    }
  }

  function zoned(date, tz) {
    const parts = {};
    const all = formatter(tz, {
      year: "numeric", month: "2-digit", day: "2-digit", weekday: "long",
      hour: "numeric", minute: "2-digit", second: "2-digit", hour12: true,
    });
    for (const part of all.formatToParts(date)) parts[part.type] = part.value;
    parts.monthLong = formatter(tz, { month: "long" }).format(date);
    parts.monthShort = formatter(tz, { month: "short" }).format(date);
    parts.dayNumber = parseInt(parts.day, 10);
    parts.key = `${parts.year}-${parts.month}-${parts.day}`;
    return parts;
  }

  function timeOfDay(date, tz, withSeconds) {
    const p = zoned(date, tz);
    return `${p.hour}:${p.minute}${withSeconds ? `:${p.second}` : ""} ${p.dayPeriod}`;
  }

  function relativeDay(date, tz) {
    const now = Date.now();
    const key = zoned(date, tz).key;
    if (key === zoned(new Date(now), tz).key) return "Today";
    if (key === zoned(new Date(now - 86400000), tz).key) return "Yesterday";
    if (key === zoned(new Date(now + 86400000), tz).key) return "Tomorrow";
    return null;
  }

  function ago(date) {
    const seconds = Math.round((Date.now() - date.getTime()) / 1000);
    const size = Math.abs(seconds);
    const units = [["year", 31536000], ["month", 2592000], ["day", 86400], ["hour", 3600], ["minute", 60]];
    for (const [unit, length] of units) {
      if (size >= length) {
        const n = Math.floor(size / length);
        const label = `${n} ${unit}${n === 1 ? "" : "s"}`;
        return seconds >= 0 ? `${label} ago` : `in ${label}`;
      }
    }
    return seconds >= 0 ? "just now" : "in a moment";
  }

  // `<!date^unix^format|fallback>` in the acting person's time zone, as Slack shows it to them.
  function slackDate(unix, format, tz) {
    const date = new Date(unix * 1000);
    const p = zoned(date, tz);
    const day = relativeDay(date, tz);
    const base = {
      date_num: `${p.year}-${p.month}-${p.day}`,
      date: `${p.monthLong} ${ordinal(p.dayNumber)}, ${p.year}`,
      date_short: `${p.monthShort} ${p.dayNumber}, ${p.year}`,
      date_long: `${p.weekday}, ${p.monthLong} ${ordinal(p.dayNumber)}, ${p.year}`,
      time: `${p.hour}:${p.minute} ${p.dayPeriod}`,
      time_secs: `${p.hour}:${p.minute}:${p.second} ${p.dayPeriod}`,
      ago: ago(date),
    };
    base.date_pretty = day || base.date;
    base.date_short_pretty = day || base.date_short;
    base.date_long_pretty = day || base.date_long;
    base.day_divider_pretty = day || `${p.weekday}, ${p.monthLong} ${ordinal(p.dayNumber)}`;
    return format.replace(/\{(\w+)\}/g, (whole, name) => (name in base ? base[name] : whole));
  }

  function dateToken(command, fallback) {
    const [, unixText, format = "{date_short} {time}", link] = command.split("^");
    const unix = Number(unixText);
    if (!Number.isFinite(unix) || !unixText) return esc(fallback || "");
    const text = slackDate(unix, format, myTz());
    const iso = new Date(unix * 1000).toISOString();
    const inner = `<time class="mk-date" datetime="${esc(iso)}" title="${esc(`${iso} · shown in ${myTz()}`)}">${esc(text)}</time>`;
    return link && /^https?:\/\//i.test(link) ? `<a href="${esc(link)}" target="_blank" rel="noopener noreferrer">${inner}</a>` : inner;
  }

  function splitToken(inner) {
    const bar = inner.indexOf("|");
    return bar < 0 ? [inner, ""] : [inner.slice(0, bar), inner.slice(bar + 1)];
  }

  // What a `<...>` token shows, as HTML.
  function tokenHtml(inner) {
    const [target, rawLabel] = splitToken(inner);
    const label = unslack(rawLabel);
    if (target.startsWith("@")) {
      const id = target.slice(1);
      const user = userById(id);
      const name = user ? displayName(user) : label.replace(/^@/, "") || id;
      const mine = ui.state && id === ui.state.me.id ? " mention-me" : "";
      return `<span class="mention${mine}" data-user-id="${esc(id)}">@${esc(name)}</span>`;
    }
    if (target.startsWith("#")) {
      const id = target.slice(1);
      const channel = channelById(id);
      const name = channel ? channelLabel(channel) : label || id;
      if (!channel) return `<span class="channel-ref">#${esc(name)}</span>`;
      return `<a href="#" class="channel-ref" data-channel-link="${esc(id)}">#${esc(name)}</a>`;
    }
    if (target.startsWith("!")) {
      const command = target.slice(1);
      const word = command.split("^")[0];
      if (["here", "channel", "everyone"].includes(word)) {
        return `<span class="mention broadcast">@${esc(word)}</span>`;
      }
      if (word === "date") return dateToken(command, label);
      if (word === "subteam") return `<span class="mention">${esc(label || "@group")}</span>`;
      return esc(label || `<${unslack(inner)}>`);
    }
    const url = unslack(target);
    if (/^(https?:\/\/|mailto:)/i.test(url)) {
      return `<a href="${esc(url)}" target="_blank" rel="noopener noreferrer">${esc(label || url)}</a>`;
    }
    return esc(`<${unslack(inner)}>`);
  }

  // The same token as plain text (inside code spans, where Slack does not format).
  function tokenText(inner) {
    const holder = document.createElement("span");
    holder.innerHTML = tokenHtml(inner);
    return esc(holder.textContent);
  }

  const TOKEN = /\uE000(\d+)\uE001/g;
  const KEPT = /\uE002(\d+)\uE003/g;
  const BOLD = /(^|[^\w*])\*([^\s*](?:[^*\n]*?[^\s*])?)\*(?![\w*])/g;
  const ITALIC = /(^|[^\w_])_([^\s_](?:[^_\n]*?[^\s_])?)_(?![\w_])/g;
  const STRIKE = /(^|[^\w~])~([^\s~](?:[^~\n]*?[^\s~])?)~(?![\w~])/g;

  // Slack mrkdwn to HTML: everything is escaped first; only the markup below is ever produced.
  function mrkdwn(raw) {
    if (raw === null || raw === undefined || raw === "") return "";
    const tokens = [];
    const kept = [];
    const keep = (html) => `\uE002${kept.push(html) - 1}\uE003`;
    let s = String(raw).replace(/[\uE000-\uE003]/g, "");
    s = s.replace(/<([^<>\n]*)>/g, (whole, inner) => `\uE000${tokens.push(inner) - 1}\uE001`);
    s = esc(unslack(s));
    const plainTokens = (body) => body.replace(TOKEN, (whole, i) => tokenText(tokens[Number(i)]));
    s = s.replace(/```\n?([\s\S]*?)```/g, (whole, body) => keep(`<pre class="mk-pre">${plainTokens(body)}</pre>`));
    s = s.replace(/`([^`\n]+)`/g, (whole, body) => keep(`<code class="mk-code">${plainTokens(body)}</code>`));
    s = s.replace(BOLD, "$1<b>$2</b>").replace(ITALIC, "$1<i>$2</i>").replace(STRIKE, "$1<s>$2</s>");
    s = emojify(s);
    s = s.replace(TOKEN, (whole, i) => tokenHtml(tokens[Number(i)]));
    s = quotesAndLines(s);
    s = s.replace(KEPT, (whole, i) => kept[Number(i)]);
    // A preformatted block is a block of its own: no extra line break around it.
    return s.replace(/<br>(<pre )/g, "$1").replace(/(<\/pre>)<br>/g, "$1");
  }

  function quotesAndLines(html) {
    const out = [];
    let quote = null;
    let lastWasLine = false;
    for (const line of html.split("\n")) {
      const match = line.match(/^&gt;\s?(.*)$/);
      if (match) {
        (quote = quote || []).push(match[1]);
        continue;
      }
      if (quote) {
        out.push(`<blockquote class="mk-quote">${quote.join("<br>")}</blockquote>`);
        quote = null;
        lastWasLine = false;
      }
      out.push((lastWasLine ? "<br>" : "") + line);
      lastWasLine = true;
    }
    if (quote) out.push(`<blockquote class="mk-quote">${quote.join("<br>")}</blockquote>`);
    return out.join("");
  }

  // ------------------------------------------------------------------ rich_text

  function richInline(element) {
    const style = element.style || {};
    let html;
    switch (element.type) {
      case "text":
        html = esc(element.text || "");
        break;
      case "link":
        html = /^(https?:\/\/|mailto:)/i.test(element.url || "")
          ? `<a href="${esc(element.url)}" target="_blank" rel="noopener noreferrer">${esc(element.text || element.url)}</a>`
          : esc(element.text || element.url || "");
        break;
      case "user":
        html = tokenHtml(`@${element.user_id}`);
        break;
      case "channel":
        html = tokenHtml(`#${element.channel_id}`);
        break;
      case "usergroup":
        html = `<span class="mention">@${esc(element.usergroup_id || "group")}</span>`;
        break;
      case "broadcast":
        html = tokenHtml(`!${element.range}`);
        break;
      case "emoji":
        html = element.unicode
          ? element.unicode.split("-").map((code) => String.fromCodePoint(parseInt(code, 16))).join("")
          : EMOJI[element.name] || `:${esc(element.name)}:`;
        break;
      case "date":
        html = dateToken(`date^${element.timestamp}^${element.format || "{date_short} {time}"}`, element.fallback);
        break;
      case "color":
        html = `<span class="mk-color" style="--swatch:${esc(element.value)}"></span>${esc(element.value)}`;
        break;
      default:
        html = esc(element.text || "");
    }
    if (style.code) html = `<code class="mk-code">${html}</code>`;
    if (style.bold) html = `<b>${html}</b>`;
    if (style.italic) html = `<i>${html}</i>`;
    if (style.strike) html = `<s>${html}</s>`;
    return html;
  }

  const richSection = (section) => (section.elements || []).map(richInline).join("").replace(/\n/g, "<br>");

  function richText(block) {
    const parts = (block.elements || []).map((part) => {
      switch (part.type) {
        case "rich_text_section":
          return `<div class="rt-section">${richSection(part)}</div>`;
        case "rich_text_preformatted":
          return `<pre class="mk-pre">${(part.elements || []).map(richInline).join("")}</pre>`;
        case "rich_text_quote":
          return `<blockquote class="mk-quote">${richSection(part)}</blockquote>`;
        case "rich_text_list": {
          const tag = part.style === "ordered" ? "ol" : "ul";
          const items = (part.elements || []).map((item) => `<li>${richSection(item)}</li>`).join("");
          return `<${tag} class="rt-list" style="--indent:${Number(part.indent) || 0}">${items}</${tag}>`;
        }
        default:
          return "";
      }
    });
    return el("div", { class: "bk-rich", html: parts.join("") });
  }

  // ------------------------------------------------------------------ Block Kit

  function button(element, blockId) {
    const classes = ["bk-button"];
    if (element.style === "primary") classes.push("primary");
    if (element.style === "danger") classes.push("danger");
    const node = el("button", {
      type: "button",
      class: classes.join(" "),
      "data-testid": "block-button",
      "data-action-id": element.action_id,
      "data-value": element.value,
      "data-block-id": blockId,
      html: plainHtml(element.text),
    });
    if (element.url) node.append(el("span", { class: "external", "aria-hidden": "true", text: " ↗" }));
    buttonInfo.set(node, { element, blockId });
    return node;
  }

  function optionList(element) {
    const groups = element.option_groups
      ? element.option_groups.map((group) => ({ label: group.label ? group.label.text : "", options: group.options || [] }))
      : [{ label: null, options: element.options || [] }];
    return groups;
  }

  function selectMenu(element, { multiple = false, disabled = false, blockId = null } = {}) {
    const select = el("select", { class: "bk-select", multiple, disabled });
    const initial = new Set(
      (multiple ? element.initial_options || [] : element.initial_option ? [element.initial_option] : []).map((o) => o.value),
    );
    if (!multiple && initial.size === 0) {
      select.append(el("option", { value: "", text: element.placeholder ? element.placeholder.text : "Select an option" }));
    }
    for (const group of optionList(element)) {
      const parent = group.label !== null ? el("optgroup", { label: group.label }) : select;
      for (const option of group.options) {
        parent.append(el("option", { value: option.value, text: option.text ? option.text.text : option.value, selected: initial.has(option.value) }));
      }
      if (parent !== select) select.append(parent);
    }
    if (blockId) select.setAttribute("data-block-id", blockId);
    if (element.action_id) select.setAttribute("data-action-id", element.action_id);
    return select;
  }

  function image(element, className) {
    const img = el("img", { class: className, src: element.image_url || element.url || "", alt: element.alt_text || "", loading: "lazy" });
    img.addEventListener("error", () => img.replaceWith(el("span", { class: `${className} image-missing`, text: element.alt_text || "image" })), { once: true });
    return img;
  }

  // Elements outside input blocks: buttons work; other interactive elements are shown but cannot be used.
  function actionElement(element, blockId) {
    switch (element.type) {
      case "button":
        return button(element, blockId);
      case "image":
        return image(element, "bk-accessory-image");
      case "static_select":
      case "multi_static_select": {
        const select = selectMenu(element, { multiple: element.type === "multi_static_select", disabled: true, blockId });
        select.title = "LocalSlack delivers button clicks; select menus outside modal inputs are not delivered yet.";
        return select;
      }
      case "overflow":
        return el("button", { type: "button", class: "bk-button", disabled: true, title: "Overflow menus are not delivered by LocalSlack yet.", text: "⋯" });
      default:
        return el("span", { class: "bk-unsupported", text: `[${element.type}]` });
    }
  }

  function renderBlock(block, ctx) {
    const blockId = block.block_id;
    switch (block.type) {
      case "header":
        return el("div", { class: "bk-header", html: plainHtml(block.text) });
      case "section": {
        const main = el("div", { class: "bk-section-main" });
        if (block.text) main.append(el("div", { class: "bk-text", html: textHtml(block.text) }));
        if (block.fields && block.fields.length) {
          main.append(el("div", { class: "bk-fields" }, block.fields.map((field) => el("div", { class: "bk-field", html: textHtml(field) }))));
        }
        const section = el("div", { class: "bk-section" }, main);
        if (block.accessory) section.append(el("div", { class: "bk-accessory" }, actionElement(block.accessory, blockId)));
        return section;
      }
      case "divider":
        return el("hr", { class: "bk-divider" });
      case "context":
        return el(
          "div",
          { class: "bk-context" },
          (block.elements || []).map((item) =>
            item.type === "image" ? image(item, "bk-context-image") : el("span", { class: "bk-context-text", html: textHtml(item) }),
          ),
        );
      case "actions":
        return el("div", { class: "bk-actions", "data-block-id": blockId }, (block.elements || []).map((item) => actionElement(item, blockId)));
      case "image":
        return el(
          "figure",
          { class: "bk-image" },
          block.title ? el("figcaption", { html: plainHtml(block.title) }) : null,
          image(block, "bk-image-img"),
        );
      case "rich_text":
        return richText(block);
      case "input":
        return ctx.inputs ? inputBlock(block) : el("div", { class: "bk-unsupported", text: "[input block outside a modal]" });
      default:
        return el("div", { class: "bk-unsupported", text: `Unsupported block: ${block.type}` });
    }
  }

  function renderBlocks(blocks, ctx = {}) {
    return el("div", { class: "blocks" }, (blocks || []).map((block) => renderBlock(block, ctx)));
  }

  // ------------------------------------------------------------------ modal inputs

  const TEXT_KINDS = { plain_text_input: "text", email_text_input: "email", url_text_input: "url", number_input: "text" };

  function inputControl(element, blockId, controlId) {
    const common = { id: controlId, "data-testid": "modal-input", "data-block-id": blockId, "data-action-id": element.action_id, "data-kind": element.type };
    if (element.type in TEXT_KINDS) {
      const attrs = {
        ...common,
        class: "bk-text-input",
        value: element.initial_value || "",
        placeholder: element.placeholder ? element.placeholder.text : "",
      };
      if (element.max_length) attrs.maxLength = element.max_length;
      if (element.type === "number_input") attrs.inputMode = element.is_decimal_allowed ? "decimal" : "numeric";
      if (element.multiline) return el("textarea", { ...attrs, rows: 4, text: element.initial_value || "" });
      return el("input", { ...attrs, type: TEXT_KINDS[element.type] });
    }
    if (element.type === "static_select" || element.type === "multi_static_select") {
      const select = selectMenu(element, { multiple: element.type === "multi_static_select", blockId });
      for (const [key, value] of Object.entries(common)) if (key !== "id") select.setAttribute(key, value);
      select.id = controlId;
      return select;
    }
    if (element.type === "users_select" || element.type === "conversations_select" || element.type === "channels_select") {
      const choices = element.type === "users_select"
        ? people().map((u) => ({ value: u.id, text: `${displayName(u)} (${u.real_name})` }))
        : channels().filter((c) => !c.is_im).map((c) => ({ value: c.id, text: `#${c.name}` }));
      const initial = element.initial_user || element.initial_conversation || element.initial_channel || "";
      const select = el("select", { ...common, class: "bk-select" }, el("option", { value: "", text: element.placeholder ? element.placeholder.text : "Choose…" }));
      for (const choice of choices) select.append(el("option", { value: choice.value, text: choice.text, selected: choice.value === initial }));
      return select;
    }
    if (element.type === "radio_buttons" || element.type === "checkboxes") {
      const multiple = element.type === "checkboxes";
      const initial = new Set((multiple ? element.initial_options || [] : element.initial_option ? [element.initial_option] : []).map((o) => o.value));
      const box = el("fieldset", { ...common, class: "bk-choices" });
      (element.options || []).forEach((option, index) => {
        const id = `${controlId}-${index}`;
        box.append(
          el(
            "label",
            { class: "bk-choice", for: id },
            el("input", { id, type: multiple ? "checkbox" : "radio", name: controlId, value: option.value, checked: initial.has(option.value) }),
            el("span", { html: textHtml(option.text) }),
          ),
        );
      });
      return box;
    }
    if (element.type === "datepicker" || element.type === "timepicker") {
      return el("input", {
        ...common,
        class: "bk-text-input",
        type: element.type === "datepicker" ? "date" : "time",
        value: element.initial_date || element.initial_time || "",
      });
    }
    return el("div", { class: "bk-unsupported", "data-kind": "unsupported", text: `LocalSlack cannot show a ${element.type} input yet.` });
  }

  let controlCounter = 0;

  function inputBlock(block) {
    const element = block.element || {};
    const controlId = `input-${++controlCounter}`;
    const label = el(
      "label",
      { class: "bk-label", for: controlId },
      el("span", { html: plainHtml(block.label) }),
      block.optional ? el("span", { class: "optional", text: " (optional)" }) : null,
    );
    return el(
      "div",
      { class: "bk-input", "data-testid": "input-block", "data-block-id": block.block_id, "data-required": block.optional ? "false" : "true" },
      label,
      inputControl(element, block.block_id, controlId),
      block.hint ? el("div", { class: "bk-hint", html: plainHtml(block.hint) }) : null,
      el("div", { class: "field-error", "data-testid": "field-error", "data-block-id": block.block_id, role: "alert", hidden: true }),
    );
  }

  function controlValue(control) {
    const kind = control.dataset.kind;
    if (kind in TEXT_KINDS) return control.value === "" ? null : control.value;
    if (kind === "multi_static_select") return Array.from(control.selectedOptions).map((o) => o.value);
    if (kind === "checkboxes") return Array.from(control.querySelectorAll("input:checked")).map((i) => i.value);
    if (kind === "radio_buttons") {
      const chosen = control.querySelector("input:checked");
      return chosen ? chosen.value : null;
    }
    return control.value === "" ? null : control.value;
  }

  // What the modal's inputs hold, as {block_id: {action_id: value}}, and which required ones are empty.
  function collectValues(root) {
    const values = {};
    const errors = {};
    for (const wrapper of root.querySelectorAll('[data-testid="input-block"]')) {
      const control = wrapper.querySelector('[data-testid="modal-input"]');
      if (!control) continue;
      const value = controlValue(control);
      const blockId = control.dataset.blockId;
      (values[blockId] = values[blockId] || {})[control.dataset.actionId] = value;
      const empty = value === null || (Array.isArray(value) && value.length === 0);
      if (wrapper.dataset.required === "true" && empty) errors[blockId] = REQUIRED_MESSAGE;
    }
    return { values, errors };
  }

  // ------------------------------------------------------------------ talking to the server

  async function act(name, payload, label) {
    let response;
    let data;
    $("toast").hidden = true;  // a new action makes an earlier complaint stale
    try {
      response = await fetch(`/localslack/ui/${name}`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ as: ui.me, ...payload }),
      });
      data = await response.json();
    } catch (err) {
      showToast(`${label}: LocalSlack did not answer (${err.message}).`, "error");
      return { ok: false };
    }
    if (response.status === 400) {
      showToast(`${label}: LocalSlack refused it — ${data.error}`, "error");
      return { ok: false, ...data };
    }
    if (!response.ok) {
      showToast(`${label}: LocalSlack failed with HTTP ${response.status}.`, "error");
      return { ok: false, ...data };
    }
    if (!data.ok) {
      const what = data.delivered ? data.error : `not delivered — ${data.error}`;
      showToast(`${label}: ${what}`, "error", data.body);
    } else if (data.slow) {
      showToast(`${label}: the bot took ${(data.elapsed_ms / 1000).toFixed(1)} s to answer; Slack gives up after 3 s.`, "warn");
    }
    return data;
  }

  let toastTimer = null;

  function showToast(text, kind = "info", detail = "") {
    const toast = $("toast");
    const parts = [
      el("span", { class: "toast-text", "data-testid": "toast-text", text }),
      el("button", { type: "button", class: "toast-close", "data-testid": "toast-close", "aria-label": "Dismiss", text: "×" }),
    ];
    if (detail) parts.push(el("details", { class: "toast-detail" }, el("summary", { text: "What the bot answered" }), el("pre", { text: detail })));
    toast.replaceChildren(...parts);
    toast.dataset.kind = kind;
    toast.hidden = false;
    clearTimeout(toastTimer);
    if (kind !== "error") toastTimer = setTimeout(() => (toast.hidden = true), 6000);
  }

  function restartPolling() {
    if (ui.poller) ui.poller.abort();
    ui.version = -1;
    ui.poller = new AbortController();
    poll(ui.poller.signal);
  }

  async function poll(signal) {
    while (!signal.aborted) {
      try {
        const query = new URLSearchParams({ since: String(ui.version), wait: String(ui.version < 0 ? 0 : POLL_WAIT_SECONDS) });
        if (ui.me) query.set("as", ui.me);
        const response = await fetch(`/localslack/ui/state?${query}`, { cache: "no-store", signal });
        const data = await response.json();
        if (signal.aborted) return;
        if (response.status === 400 && ui.me) {
          showToast(`${data.error} — showing the first person instead.`, "error");
          ui.me = null;
          continue;
        }
        if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
        setConnection("live");
        if (!data.unchanged) applyState(data);
      } catch (err) {
        if (signal.aborted) return;
        setConnection("offline");
        await delay(RETRY_MS);
      }
    }
  }

  function setConnection(status) {
    const node = $("connection");
    if (node.dataset.state === status) return;
    node.dataset.state = status;
    node.textContent = status === "live" ? "live" : "reconnecting…";
    node.title = status === "live" ? "Updates arrive as the workspace changes" : "LocalSlack is not answering; retrying";
  }

  // ------------------------------------------------------------------ navigation

  function writeUrl() {
    const query = new URLSearchParams();
    if (ui.me) query.set("as", ui.me);
    if (ui.place.kind === "home") query.set("home", "1");
    else if (ui.place.id) query.set("channel", ui.place.id);
    if (ui.thread && ui.place.kind === "channel") query.set("thread", ui.thread.ts);
    if (ui.highlight && ui.place.kind === "channel" && ui.highlight.channel === ui.place.id) query.set("message", ui.highlight.ts);
    const next = `${window.location.pathname}?${query}`;
    if (next !== `${window.location.pathname}${window.location.search}`) history.replaceState(null, "", next);
  }

  function saveDraft() {
    if (ui.place.kind === "channel" && ui.place.id) ui.drafts.set(`${ui.me}:${ui.place.id}`, $("composer").value);
  }

  function hideToast() {
    $("toast").hidden = true;
  }

  function goChannel(id) {
    if (!ui.place || ui.place.id !== id) hideToast();
    saveDraft();
    ui.place = { kind: "channel", id };
    if (ui.thread && ui.thread.channel !== id) ui.thread = null;
    if (ui.highlight && ui.highlight.channel !== id) ui.highlight = null;
    $("composer").value = ui.drafts.get(`${ui.me}:${id}`) || "";
    writeUrl();
    render();
    $("composer").focus();
  }

  function goHome() {
    hideToast();
    saveDraft();
    ui.place = { kind: "home" };
    ui.thread = null;
    writeUrl();
    render();
    openHome();
  }

  function openHome() {
    ui.homeAskedFor = ui.me;
    act("home", {}, "Opening App Home");
  }

  function openThread(channel, ts) {
    ui.thread = { channel, ts };
    writeUrl();
    render();
    $("thread-composer").focus();
  }

  function closeThread() {
    ui.thread = null;
    writeUrl();
    render();
  }

  function switchUser(id) {
    hideToast();
    saveDraft();
    ui.me = id;
    ui.modalKey = null;
    ui.clientErrors = {};
    ui.dismissed.clear();
    ui.seen.clear();
    if (ui.place.kind === "channel" && ui.place.id) $("composer").value = ui.drafts.get(`${id}:${ui.place.id}`) || "";
    writeUrl();
    restartPolling();
  }

  // ------------------------------------------------------------------ rendering

  function applyState(data) {
    ui.state = data;
    ui.version = data.version;
    ui.me = data.me.id;
    rememberUser(ui.me);
    const visible = new Set(data.channels.map((c) => c.id));
    if (ui.place.kind === "channel" && !visible.has(ui.place.id)) {
      const triage = data.channels.find((c) => c.name === "safety-triage" && !c.is_im);
      const first = triage || data.channels.find((c) => !c.is_im) || data.channels[0];
      ui.place = { kind: "channel", id: first ? first.id : null };
    }
    if (ui.thread && (ui.place.kind !== "channel" || ui.thread.channel !== ui.place.id)) {
      ui.thread = { ...ui.thread, channel: ui.place.id };
    }
    writeUrl();
    render();
    if (ui.place.kind === "home" && ui.homeAskedFor !== ui.me) openHome();
  }

  function render() {
    if (!ui.state) return;
    if (ui.renderedFor !== ui.me) {
      for (const id of ["messages", "thread-messages"]) if ($(id)) $(id).replaceChildren();
      ui.renderedFor = ui.me;
    }
    document.title = `${ui.place.kind === "home" ? "App Home" : channelLabel(channelById(ui.place.id))} · ${ui.state.team.name}`;
    $("workspace-name").textContent = ui.state.team.name;
    renderSwitcher();
    renderSidebar();
    renderHeader();
    const home = ui.place.kind === "home";
    $("messages").hidden = home;
    $("home").hidden = !home;
    if (home) renderHome();
    else renderMessages();
    renderComposer();
    renderThread();
    renderModal();
  }

  function renderSwitcher() {
    const select = $("user-switcher");
    const wanted = people().map((u) => `${u.id}:${u.name}`).join(",");
    if (select.dataset.people !== wanted) {
      select.replaceChildren(...people().map((u) => el("option", { value: u.id, text: `${u.name} — ${u.real_name}` })));
      select.dataset.people = wanted;
    }
    select.value = ui.me;
  }

  function latestTs(channel) {
    const tops = channel.messages;
    let latest = tops.length ? tops[tops.length - 1].ts : "0";
    for (const replies of Object.values(channel.threads)) {
      for (const reply of replies) if (reply.ts > latest) latest = reply.ts;
    }
    return latest;
  }

  function navItem(attrs, icon, label, active, unread) {
    const classes = ["nav-item"];
    if (active) classes.push("active");
    if (unread) classes.push("unread");
    const glyph = typeof icon === "string" ? el("span", { class: "nav-icon", "aria-hidden": "true", text: icon }) : el("span", { class: "nav-icon" }, icon);
    return el("li", {}, el("button", { type: "button", class: classes.join(" "), ...attrs }, glyph, el("span", { class: "nav-label", text: label })));
  }

  function renderSidebar() {
    const list = [];
    let dm = null;
    for (const channel of channels()) {
      const latest = latestTs(channel);
      if (!ui.seen.has(channel.id)) ui.seen.set(channel.id, latest);
      const active = ui.place.kind === "channel" && ui.place.id === channel.id;
      if (active) ui.seen.set(channel.id, latest);
      const unread = !active && latest > ui.seen.get(channel.id);
      if (channel.is_im) {
        dm = navItem({ "data-testid": "channel-dm", "data-channel-id": channel.id, "data-nav-channel": channel.id }, "●", ui.state.app.name, active, unread);
      } else {
        list.push(navItem({ "data-testid": `channel-${channel.id}`, "data-channel-id": channel.id, "data-nav-channel": channel.id }, channel.is_private ? icon("lock") : "#", channel.name, active, unread));
      }
    }
    $("channel-list").replaceChildren(...list);
    const apps = [dm];
    if (features().home_tab_enabled !== false) {
      apps.push(navItem({ "data-testid": "app-home", "data-nav-home": "1" }, "⌂", "App Home", ui.place.kind === "home", false));
    }
    $("app-list").replaceChildren(...apps.filter(Boolean));
    const failures = ui.state.api_errors || [];
    const box = $("api-errors");
    box.hidden = failures.length === 0;
    box.replaceChildren(
      el("div", { class: "sidebar-title", text: "Failed Web API calls" }),
      ...failures.map((f) => el("div", { class: "api-error", title: `call #${f.seq}, HTTP ${f.status}`, text: `${f.method}: ${f.error || `HTTP ${f.status}`}` })),
    );
  }

  function renderHeader() {
    const header = $("channel-header");
    if (ui.place.kind === "home") {
      header.replaceChildren(
        el("div", { class: "channel-title" }, el("span", { class: "nav-icon", text: "⌂" }), ` ${ui.state.app.name}`, el("span", { class: "app-badge", text: "APP" })),
        el("div", { class: "tabs" }, el("span", { class: "tab active", text: "Home" }), el("button", { type: "button", class: "tab", "data-nav-channel": ui.state.app.dm, text: "Messages" })),
      );
      return;
    }
    const channel = channelById(ui.place.id);
    if (!channel) {
      header.replaceChildren(el("div", { class: "channel-title", text: "No conversations" }));
      return;
    }
    const title = channel.is_im
      ? el("div", { class: "channel-title" }, ui.state.app.name, el("span", { class: "app-badge", text: "APP" }))
      : el("div", { class: "channel-title" }, channel.is_private ? icon("lock") : "# ", channel.name);
    const about = channel.topic || channel.purpose || (channel.is_im ? "Direct messages with the app" : "");
    header.replaceChildren(title);
    if (about) header.append(el("div", { class: "channel-topic", text: about }));
  }

  function avatarFor(user, isBot) {
    const name = isBot ? ui.state.app.name : displayName(user);
    let hue = 0;
    for (const ch of user ? user.id : "?") hue = (hue * 31 + ch.charCodeAt(0)) % 360;
    return el("div", { class: `avatar${isBot ? " bot" : ""}`, style: `--hue:${hue}`, "aria-hidden": "true", text: (name[0] || "?").toUpperCase() });
  }

  function timeLabel(ts) {
    const date = new Date(Number(ts) * 1000);
    return el("time", { class: "msg-time", dateTime: date.toISOString(), title: `${slackDate(Number(ts), "{date_long} {time_secs}", myTz())} (${myTz()})`, text: timeOfDay(date, myTz(), false) });
  }

  function messageContent(message) {
    if (message.subtype === "tombstone") return el("div", { class: "tombstone", text: "This message was deleted." });
    const parts = [];
    if (message.blocks && message.blocks.length) parts.push(renderBlocks(message.blocks));
    else if (message.text) parts.push(el("div", { class: "msg-text", html: mrkdwn(message.text) }));
    for (const attachment of message.attachments || []) parts.push(attachmentNode(attachment));
    for (const file of message.files || []) {
      parts.push(el("a", { class: "file-chip", href: file.url_private || `/files/${file.id}`, target: "_blank", rel: "noopener", }, icon("file"), ` ${file.title || file.name || file.id}`));
    }
    return el("div", { class: "msg-content" }, parts);
  }

  function attachmentNode(attachment) {
    const color = attachment.color ? (attachment.color.startsWith("#") ? attachment.color : { good: "#2eb67d", warning: "#ecb22e", danger: "#e01e5a" }[attachment.color] || "#ddd") : "#ddd";
    return el(
      "div",
      { class: "attachment", style: `--bar:${color}` },
      attachment.pretext ? el("div", { html: mrkdwn(attachment.pretext) }) : null,
      attachment.title ? el("div", { class: "attachment-title", html: esc(attachment.title) }) : null,
      attachment.text ? el("div", { html: mrkdwn(attachment.text) }) : null,
      attachment.blocks ? renderBlocks(attachment.blocks) : null,
      (attachment.fields || []).length
        ? el("div", { class: "bk-fields" }, attachment.fields.map((f) => el("div", { class: "bk-field", html: `<b>${esc(f.title || "")}</b><br>${mrkdwn(f.value || "")}` })))
        : null,
      !attachment.text && !attachment.blocks && !attachment.title && attachment.fallback ? el("div", { text: attachment.fallback }) : null,
    );
  }

  function messageNode(message, { inThread = false, channel }) {
    const user = userById(message.user);
    const isBot = Boolean(message.bot_id) || (user && user.is_bot);
    const node = el("div", {
      class: `msg${isBot ? " from-bot" : ""}`,
      "data-testid": "message",
      "data-ts": message.ts,
      "data-user": message.user,
      "data-channel": channel.id,
      "data-container": "message",
    });
    const meta = el(
      "div",
      { class: "msg-meta" },
      el("span", { class: "msg-author", text: isBot ? ui.state.app.name : displayName(user) }),
      isBot ? el("span", { class: "app-badge", text: "APP" }) : null,
      timeLabel(message.ts),
      message.subtype === "thread_broadcast" && !inThread ? el("span", { class: "msg-note", text: "replied to a thread" }) : null,
    );
    const body = el("div", { class: "msg-body" }, meta, messageContent(message));
    if (message.edited) body.append(el("span", { class: "edited", "data-testid": "edited", text: "(edited)" }));
    if (!inThread && message.reply_count > 0) {
      const count = message.reply_count;
      body.append(
        el("button", { type: "button", class: "thread-link", "data-testid": "thread-link", "data-thread-open": message.ts, "data-channel": channel.id, text: `${count} ${count === 1 ? "reply" : "replies"}` }),
      );
    }
    node.append(avatarFor(user, isBot), body, messageTools(message, isBot, inThread, channel));
    return node;
  }

  function messageTools(message, isBot, inThread, channel) {
    const tools = el("div", { class: "msg-tools" });
    if (!inThread) {
      tools.append(el("button", { type: "button", class: "tool", title: "Reply in thread", "aria-label": "Reply in thread", "data-testid": "reply-in-thread", "data-thread-open": message.ts, "data-channel": channel.id }, icon("bubble")));
    }
    const shortcuts = features().message_shortcuts || [];
    if (!isBot && message.subtype !== "tombstone" && shortcuts.length) {
      const menu = el(
        "div",
        { class: "menu", "data-testid": "message-menu", role: "menu", hidden: true },
        el("div", { class: "menu-title", text: "Shortcuts" }),
        shortcuts.map((s) =>
          el("button", { type: "button", class: "menu-item", role: "menuitem", "data-testid": "shortcut", "data-shortcut": s.callback_id, "data-shortcut-name": s.name, title: s.description, text: s.name }),
        ),
      );
      tools.append(el("button", { type: "button", class: "tool", title: "More actions", "aria-label": "More actions", "data-testid": "message-menu-button", "data-menu-toggle": "1", text: "⋮" }), menu);
    }
    return tools;
  }

  function ephemeralNode(ephemeral) {
    const node = el("div", {
      class: "msg ephemeral",
      "data-testid": "ephemeral",
      "data-ts": ephemeral.ts,
      "data-channel": ephemeral.channel,
      "data-container": "message",
    });
    const meta = el(
      "div",
      { class: "msg-meta" },
      el("span", { class: "msg-author", text: ui.state.app.name }),
      el("span", { class: "app-badge", text: "APP" }),
      timeLabel(ephemeral.ts),
    );
    const content = ephemeral.blocks && ephemeral.blocks.length ? renderBlocks(ephemeral.blocks) : el("div", { class: "msg-text", html: mrkdwn(ephemeral.text) });
    const footer = el(
      "div",
      { class: "ephemeral-note" },
      icon("eye"),
      " Only visible to you · ",
      el("button", { type: "button", class: "link", "data-dismiss": ephemeral.ts, text: "Dismiss" }),
    );
    node.append(avatarFor(userById(ui.state.app.bot_user_id), true), el("div", { class: "msg-body" }, meta, el("div", { class: "msg-content" }, content), footer));
    return node;
  }

  // Keep existing nodes whose content did not change, so hover menus, focus and scroll survive updates.
  function reconcile(container, items) {
    const existing = new Map();
    for (const child of Array.from(container.children)) existing.set(child.dataset.key, child);
    let previous = null;
    for (const item of items) {
      let node = existing.get(item.key);
      if (!node || sigs.get(node) !== item.sig) {
        const fresh = item.build();
        fresh.dataset.key = item.key;
        sigs.set(fresh, item.sig);
        if (node) node.replaceWith(fresh);
        node = fresh;
      }
      existing.delete(item.key);
      const wanted = previous ? previous.nextSibling : container.firstChild;
      if (wanted !== node) container.insertBefore(node, wanted);
      previous = node;
    }
    for (const node of existing.values()) node.remove();
  }

  function timelineItems(channel, messages, threadTs, inThread) {
    const context = `${ui.me}|${myTz()}|${channels().length}|${JSON.stringify(features().message_shortcuts || [])}`;
    const items = messages.map((m) => ({
      ts: m.ts,
      key: `m:${channel.id}:${m.ts}`,
      sig: `${context}|${JSON.stringify(m)}`,
      build: () => messageNode(m, { inThread, channel }),
    }));
    const ephemerals = (ui.state.ephemerals || []).filter(
      (e) => e.channel === channel.id && (e.thread_ts || null) === threadTs && !ui.dismissed.has(e.ts),
    );
    for (const e of ephemerals) {
      items.push({ ts: e.ts, key: `e:${e.ts}`, sig: `${context}|${JSON.stringify(e)}`, build: () => ephemeralNode(e) });
    }
    items.sort((a, b) => (a.ts < b.ts ? -1 : a.ts > b.ts ? 1 : 0));
    return items;
  }

  function renderMessages() {
    const box = $("messages");
    const channel = channelById(ui.place.id);
    if (!channel) {
      box.replaceChildren();
      return;
    }
    const switched = box.dataset.channel !== channel.id;
    const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 60;
    const items = timelineItems(channel, channel.messages, null, false);
    if (items.length === 0) {
      box.replaceChildren(el("div", { class: "empty", "data-key": "empty", text: channel.is_im ? `This is the start of your messages with ${ui.state.app.name}.` : `This is the very beginning of #${channel.name}.` }));
    } else {
      if (box.querySelector(".empty")) box.replaceChildren();
      reconcile(box, items);
    }
    box.dataset.channel = channel.id;
    if (switched || atBottom) box.scrollTop = box.scrollHeight;
    showHighlight(box, channel);
  }

  // Mark the message a permalink points at, and bring it into view the first time it is drawn.
  function showHighlight(box, channel) {
    const wanted = ui.highlight && ui.highlight.channel === channel.id ? ui.highlight : null;
    let target = null;
    for (const node of box.querySelectorAll('[data-testid="message"]')) {
      const hit = Boolean(wanted) && node.dataset.ts === wanted.ts;
      node.classList.toggle("highlighted", hit);
      if (hit) target = node;
    }
    if (target && !wanted.scrolled) {
      target.scrollIntoView({ block: "center" });
      wanted.scrolled = true;
    }
  }

  function renderHome() {
    const box = $("home");
    const view = ui.state.home;
    const key = view ? `${ui.me}:${view.id}:${view.hash}:${myTz()}` : `${ui.me}:none`;
    if (box.dataset.key === key) return;
    box.dataset.key = key;
    const body = view
      ? el("div", { class: "home-view", "data-testid": "home-view", "data-view-id": view.id, "data-container": "home" }, renderBlocks(view.blocks))
      : el("div", { class: "empty", "data-testid": "home-empty" }, `${ui.state.app.name} has not published a Home tab for you yet.`);
    box.replaceChildren(
      body,
      el("div", { class: "home-foot" }, el("button", { type: "button", class: "bk-button", "data-testid": "home-refresh", "data-home-refresh": "1", text: "Refresh (send app_home_opened)" })),
    );
  }

  function renderComposer() {
    const area = $("composer-area");
    const form = $("composer-form");
    const composer = $("composer");
    const hint = $("composer-hint");
    if (ui.place.kind === "home") {
      area.hidden = true;
      return;
    }
    area.hidden = false;
    const channel = channelById(ui.place.id);
    const readOnly = Boolean(channel && channel.is_im && features().messages_tab_read_only);
    form.hidden = readOnly;
    let note = $("composer-readonly");
    if (readOnly && !note) {
      note = el("div", { id: "composer-readonly", class: "composer-readonly", "data-testid": "composer-readonly", text: "Sending messages to this app has been turned off." });
      area.insertBefore(note, hint);
    } else if (!readOnly && note) note.remove();
    hint.hidden = readOnly;
    composer.placeholder = channel ? `Message ${channel.is_im ? ui.state.app.name : `#${channel.name}`}` : "";
  }

  function renderThread() {
    const pane = $("thread-pane");
    const channel = ui.thread ? channelById(ui.thread.channel) : null;
    const parent = channel ? channel.messages.find((m) => m.ts === ui.thread.ts) : null;
    if (!parent || ui.place.kind !== "channel") {
      pane.hidden = true;
      return;
    }
    if (!$("thread-messages")) buildThreadPane(pane);
    pane.hidden = false;
    pane.dataset.threadTs = parent.ts;
    $("thread-title").textContent = `#${channelLabel(channel)}`;
    const replies = channel.threads[parent.ts] || [];
    const context = `${ui.me}|${myTz()}`;
    const items = [
      { key: `p:${channel.id}:${parent.ts}`, sig: `${context}|${JSON.stringify(parent)}|parent`, build: () => messageNode(parent, { inThread: true, channel }) },
      {
        key: `d:${parent.ts}:${replies.length}`,
        sig: String(replies.length),
        build: () => el("div", { class: "thread-divider", "data-testid": "thread-count", text: `${replies.length} ${replies.length === 1 ? "reply" : "replies"}` }),
      },
      ...timelineItems(channel, replies, parent.ts, true),
    ];
    const box = $("thread-messages");
    const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 60;
    reconcile(box, items);
    if (atBottom) box.scrollTop = box.scrollHeight;
    showHighlight(box, channel);
  }

  function buildThreadPane(pane) {
    pane.replaceChildren(
      el(
        "div",
        { class: "thread-head" },
        el("div", {}, el("b", { text: "Thread" }), " ", el("span", { id: "thread-title", class: "thread-title" })),
        el("button", { type: "button", class: "icon-button", "data-testid": "thread-close", "data-thread-close": "1", "aria-label": "Close thread", text: "×" }),
      ),
      el("div", { id: "thread-messages", class: "thread-messages", "data-testid": "thread-messages" }),
      el(
        "form",
        { id: "thread-form", class: "composer thread-composer", autocomplete: "off" },
        el("textarea", { id: "thread-composer", "data-testid": "thread-composer", rows: 1, placeholder: "Reply…", "aria-label": "Reply in thread" }),
        el("button", { type: "submit", class: "send", "data-testid": "thread-send", text: "Send" }),
      ),
    );
    const textarea = $("thread-composer");
    $("thread-form").addEventListener("submit", (event) => {
      event.preventDefault();
      send(textarea, ui.thread);
    });
    textarea.addEventListener("keydown", (event) => enterSends(event, textarea, () => send(textarea, ui.thread)));
  }

  // ------------------------------------------------------------------ modal

  function renderModal() {
    const root = $("modal-root");
    const view = ui.state.modal;
    const key = view ? `${ui.me}:${view.id}:${view.hash}` : null;
    if (!view) {
      root.replaceChildren();
      ui.modalKey = null;
      ui.clientErrors = {};
      return;
    }
    if (key !== ui.modalKey) {
      ui.modalKey = key;
      ui.clientErrors = {};
      ui.submitting = false;
      root.replaceChildren(buildModal(view));
      const first = root.querySelector('[data-testid="modal-input"]');
      if (first && typeof first.focus === "function") first.focus();
    }
    const modal = root.querySelector('[data-testid="modal"]');
    const errorKey = JSON.stringify([ui.clientErrors, view.errors]);
    const newErrors = errorKey !== modal.dataset.errorKey;
    modal.dataset.errorKey = errorKey;
    for (const slot of modal.querySelectorAll('[data-testid="field-error"]')) {
      const blockId = slot.dataset.blockId;
      const message = ui.clientErrors[blockId] || (view.errors && view.errors[blockId]) || "";
      slot.textContent = message;
      slot.hidden = !message;
      slot.closest('[data-testid="input-block"]').classList.toggle("has-error", Boolean(message));
    }
    const firstError = modal.querySelector(".bk-input.has-error");
    if (newErrors && firstError) firstError.scrollIntoView({ block: "nearest" });
    const banner = modal.querySelector('[data-testid="modal-error"]');
    banner.textContent = view.delivery_error ? `${view.delivery_error}. Slack would show “We had some trouble connecting.”` : "";
    banner.hidden = !view.delivery_error;
    const submit = modal.querySelector('[data-testid="modal-submit"]');
    if (submit) {
      submit.disabled = ui.submitting || Boolean(view.submit_disabled);
      submit.classList.toggle("busy", ui.submitting);
    }
  }

  function buildModal(view) {
    const depth = ui.state.modal_depth || 1;
    const closeText = view.close ? view.close.text : view.submit ? "Cancel" : "Close";
    const modal = el(
      "div",
      { class: "modal", role: "dialog", "aria-modal": "true", "aria-labelledby": "modal-title", "data-testid": "modal", "data-view-id": view.id, "data-callback-id": view.callback_id, "data-container": "view" },
      el(
        "div",
        { class: "modal-head" },
        depth > 1 ? el("button", { type: "button", class: "icon-button", "data-testid": "modal-back", "data-modal-close": "1", "aria-label": "Back", text: "←" }) : null,
        el("h2", { id: "modal-title", "data-testid": "modal-title", html: plainHtml(view.title || { text: "" }) }),
        el("button", { type: "button", class: "icon-button", "data-testid": "modal-x", "data-modal-close": "1", "aria-label": "Close", text: "×" }),
      ),
      el("div", { class: "modal-error", "data-testid": "modal-error", role: "alert", hidden: true }),
      el("div", { class: "modal-body" }, renderBlocks(view.blocks, { inputs: true })),
      el(
        "div",
        { class: "modal-foot" },
        el("button", { type: "button", class: "bk-button", "data-testid": "modal-close", "data-modal-close": "1", html: plainHtml(closeText) }),
        view.submit ? el("button", { type: "button", class: "bk-button primary", "data-testid": "modal-submit", "data-modal-submit": "1", html: plainHtml(view.submit) }) : null,
      ),
    );
    modal.addEventListener("input", (event) => {
      const wrapper = event.target.closest('[data-testid="input-block"]');
      if (wrapper && ui.clientErrors[wrapper.dataset.blockId]) {
        delete ui.clientErrors[wrapper.dataset.blockId];
        renderModal();
      }
    });
    return el("div", { class: "modal-backdrop", "data-testid": "modal-backdrop" }, modal);
  }

  async function submitModal() {
    const modal = document.querySelector('[data-testid="modal"]');
    if (!modal || ui.submitting) return;
    const { values, errors } = collectValues(modal);
    ui.clientErrors = errors;
    if (Object.keys(errors).length) {
      renderModal();
      const first = modal.querySelector(".has-error [data-testid='modal-input']");
      if (first) first.focus();
      return;
    }
    ui.submitting = true;
    renderModal();
    const title = modal.querySelector('[data-testid="modal-title"]').textContent;
    await act("submit", { view_id: modal.dataset.viewId, values }, `Submitting “${title}”`);
    ui.submitting = false;
    if (ui.state) renderModal();
  }

  async function closeModal() {
    const modal = document.querySelector('[data-testid="modal"]');
    if (!modal) return;
    await act("close", { view_id: modal.dataset.viewId }, "Closing the dialog");
  }

  // ------------------------------------------------------------------ confirm dialogs

  function askConfirm(confirm) {
    return new Promise((resolve) => {
      const root = $("confirm-root");
      const finish = (answer) => {
        root.replaceChildren();
        document.removeEventListener("keydown", onKey, true);
        resolve(answer);
      };
      const onKey = (event) => {
        if (event.key === "Escape") {
          event.stopPropagation();
          finish(false);
        }
      };
      const accept = el("button", {
        type: "button",
        class: `bk-button ${confirm.style === "danger" ? "danger" : "primary"}`,
        "data-testid": "confirm-accept",
        html: plainHtml(confirm.confirm || { text: "Yes" }),
      });
      const deny = el("button", { type: "button", class: "bk-button", "data-testid": "confirm-deny", html: plainHtml(confirm.deny || { text: "Cancel" }) });
      accept.addEventListener("click", () => finish(true));
      deny.addEventListener("click", () => finish(false));
      root.replaceChildren(
        el(
          "div",
          { class: "modal-backdrop confirm-backdrop" },
          el(
            "div",
            { class: "modal confirm", role: "alertdialog", "aria-modal": "true", "data-testid": "confirm-dialog" },
            el("div", { class: "modal-head" }, el("h2", { html: plainHtml(confirm.title || { text: "Are you sure?" }) })),
            el("div", { class: "modal-body", html: textHtml(confirm.text) }),
            el("div", { class: "modal-foot" }, deny, accept),
          ),
        ),
      );
      document.addEventListener("keydown", onKey, true);
      accept.focus();
    });
  }

  // ------------------------------------------------------------------ actions from the page

  async function pressButton(node) {
    const info = buttonInfo.get(node);
    const holder = node.closest("[data-container]");
    if (!info || !holder) return;
    const { element } = info;
    if (element.confirm && !(await askConfirm(element.confirm))) return;
    if (element.url) window.open(element.url, "_blank", "noopener");
    const payload = { container: holder.dataset.container, action_id: element.action_id, value: element.value ?? null };
    if (payload.container === "message") Object.assign(payload, { channel: holder.dataset.channel, ts: holder.dataset.ts });
    if (payload.container === "view") Object.assign(payload, { view_id: holder.dataset.viewId, values: collectValues(holder).values });
    node.disabled = true;
    node.classList.add("busy");
    await act("click", payload, `Button “${node.textContent.trim()}”`);
    node.disabled = false;
    node.classList.remove("busy");
  }

  function enterSends(event, textarea, sendIt) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      sendIt();
    }
  }

  async function send(textarea, thread) {
    const text = textarea.value;
    if (!text.trim() || ui.place.kind !== "channel" || !ui.place.id) return;
    const channel = ui.place.id;
    textarea.disabled = true;
    let result;
    if (text.trim().startsWith("/")) {
      const [name] = text.trim().split(/\s/);
      const declared = features().slash_commands || [];
      const command = declared.find((c) => c.command === name);
      if (declared.length && !command) {
        textarea.disabled = false;
        showToast(`${name} is not a valid command. In Slack, all messages that start with the "/" character are interpreted as commands.`, "error");
        return;
      }
      const rest = text.trim().slice(name.length);
      const encoded = command && command.should_escape ? encodeForSlack(rest, true) : rest;
      result = await act("command", { channel, text: name + encoded }, `Command ${name}`);
    } else {
      result = await act("message", { channel, text: encodeForSlack(text, false), thread_ts: thread ? thread.ts : null }, "Sending the message");
    }
    textarea.disabled = false;
    if (result.delivered !== undefined || result.ok) {
      textarea.value = "";
      if (!thread) ui.drafts.delete(`${ui.me}:${channel}`);
      autoGrow(textarea);
      hideSuggestions();
    }
    textarea.focus();
  }

  // What Slack's client sends for typed text: &, < and > escaped, @name, #channel and @here turned into mentions.
  function encodeForSlack(text, withNames) {
    let out = text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
    out = out.replace(/(^|[\s(])@([a-z0-9_-]+(?:\.[a-z0-9_-]+)*)/gi, (whole, before, name) => {
      const lower = name.toLowerCase();
      if (["here", "channel", "everyone"].includes(lower)) return `${before}<!${lower}>`;
      const user = users().find((u) => u.name.toLowerCase() === lower || (u.display_name || "").toLowerCase() === lower);
      return user ? `${before}<@${user.id}${withNames ? `|${user.name}` : ""}>` : whole;
    });
    return out.replace(/(^|[\s(])#([a-z0-9_-]+)/gi, (whole, before, name) => {
      const channel = channels().find((c) => !c.is_im && c.name === name.toLowerCase());
      return channel ? `${before}<#${channel.id}${withNames ? `|${channel.name}` : ""}>` : whole;
    });
  }

  function autoGrow(textarea) {
    textarea.style.height = "auto";
    textarea.style.height = `${Math.min(textarea.scrollHeight, 200)}px`;
  }

  function suggestions() {
    const text = $("composer").value;
    if (!text.startsWith("/") || text.includes("\n")) return [];
    const [word] = text.split(" ");
    const typedArgs = text.length > word.length;
    return (features().slash_commands || []).filter((c) => (typedArgs ? c.command === word : c.command.startsWith(word)));
  }

  function showSuggestions() {
    const box = $("suggestions");
    const found = suggestions();
    box.hidden = found.length === 0;
    box.replaceChildren(
      ...found.map((c) =>
        el(
          "button",
          { type: "button", class: "suggestion", "data-testid": "command-suggestion", "data-command": c.command },
          el("b", { text: c.command }),
          c.usage_hint ? el("span", { class: "usage", text: ` ${c.usage_hint}` }) : null,
          c.description ? el("span", { class: "description", text: c.description }) : null,
        ),
      ),
    );
  }

  function hideSuggestions() {
    $("suggestions").hidden = true;
  }

  function closeMenus(except) {
    for (const menu of document.querySelectorAll('[data-testid="message-menu"]')) {
      if (menu !== except) {
        menu.hidden = true;
        menu.closest(".msg")?.classList.remove("menu-open");
      }
    }
  }

  function onClick(event) {
    const target = event.target.closest("button, a, [data-nav-channel]");
    if (!target || target.disabled) {
      closeMenus(null);
      return;
    }
    const data = target.dataset;
    if (data.menuToggle) {
      const menu = target.parentElement.querySelector('[data-testid="message-menu"]');
      closeMenus(menu);
      menu.hidden = !menu.hidden;
      target.closest(".msg").classList.toggle("menu-open", !menu.hidden);
      return;
    }
    closeMenus(null);
    if (data.navChannel) goChannel(data.navChannel);
    else if (data.navHome) goHome();
    else if (data.channelLink) {
      event.preventDefault();
      goChannel(data.channelLink);
    } else if (data.threadOpen) openThread(data.channel, data.threadOpen);
    else if (data.threadClose) closeThread();
    else if (data.shortcut) {
      const message = target.closest('[data-testid="message"]');
      act("shortcut", { channel: message.dataset.channel, ts: message.dataset.ts, callback_id: data.shortcut }, `Shortcut “${data.shortcutName}”`);
    } else if (data.dismiss) {
      ui.dismissed.add(data.dismiss);
      render();
    } else if (data.modalSubmit) submitModal();
    else if (data.modalClose) closeModal();
    else if (data.homeRefresh) openHome();
    else if (data.command) {
      $("composer").value = `${data.command} `;
      hideSuggestions();
      $("composer").focus();
    } else if (target.classList.contains("toast-close")) $("toast").hidden = true;
    else if (buttonInfo.has(target)) pressButton(target);
  }

  function start() {
    document.addEventListener("click", onClick);
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && $("confirm-root").childElementCount === 0 && document.querySelector('[data-testid="modal"]')) {
        closeModal();
      }
    });
    $("user-switcher").addEventListener("change", (event) => switchUser(event.target.value));
    const composer = $("composer");
    $("composer-form").addEventListener("submit", (event) => {
      event.preventDefault();
      send(composer, null);
    });
    composer.addEventListener("keydown", (event) => {
      if (event.key === "Tab" && !$("suggestions").hidden) {
        const first = suggestions()[0];
        if (first && !composer.value.includes(" ")) {
          event.preventDefault();
          composer.value = `${first.command} `;
          showSuggestions();
          return;
        }
      }
      if (event.key === "Escape") hideSuggestions();
      enterSends(event, composer, () => send(composer, null));
    });
    composer.addEventListener("input", () => {
      autoGrow(composer);
      saveDraft();
      showSuggestions();
    });
    restartPolling();
  }

  start();
})();
