//! Raven message HTML (`message_details.text`) made safe to show: sanitised with `ammonia`
//! to a small subset, then turned into a tree of nodes that the page builds with
//! `createElement` and `textContent` (never `innerHTML`), so even a sanitiser bug cannot
//! inject markup.
//!
//! Kept: paragraphs, line breaks, bold, italics, inline code and code blocks, lists,
//! block quotes, links (`http`, `https`, `mailto` only; the page opens them in the system
//! browser) and Raven mentions (`<span class="mention" data-id=…>`). Everything else is
//! dropped; `script`, `style`, `iframe`, `svg`, … with their content. Entities are decoded
//! (`&#128077;` → 👍) because the tree carries text, not HTML.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use html5ever::buffer_queue::BufferQueue;
use html5ever::tendril::StrTendril;
use html5ever::tokenizer::{Tag, TagKind, Token, TokenSink, TokenSinkResult, Tokenizer};
use serde::Serialize;

/// Tags kept (after ammonia); the page knows the same list and refuses any other.
pub const TAGS: &[&str] = &[
    "p",
    "br",
    "b",
    "strong",
    "i",
    "em",
    "u",
    "s",
    "code",
    "pre",
    "ul",
    "ol",
    "li",
    "blockquote",
    "a",
    "span",
];

/// Text longer than this (after sanitising) is cut, so one message cannot fill the page.
pub const MAX_TEXT_CHARS: usize = 20_000;

/// Nesting deeper than this is flattened into its parent (a pathological payload cannot
/// build a deep DOM).
const MAX_DEPTH: usize = 16;

/// One node of a sanitised message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum RichNode {
    Text(String),
    Element {
        tag: &'static str,
        /// Links only; always `http:`, `https:` or `mailto:`.
        #[serde(skip_serializing_if = "Option::is_none")]
        href: Option<String>,
        /// Mentions only: the mentioned user's id.
        #[serde(skip_serializing_if = "Option::is_none")]
        mention: Option<String>,
        children: Vec<RichNode>,
    },
}

static CLEANER: LazyLock<ammonia::Builder<'static>> = LazyLock::new(|| {
    let mut b = ammonia::Builder::empty();
    b.add_tags(TAGS.iter().copied())
        .add_tag_attributes("a", ["href"])
        .add_tag_attributes("span", ["data-id", "data-label"])
        .add_allowed_classes("span", ["mention"])
        .url_schemes(HashSet::from(["http", "https", "mailto"]))
        .url_relative(ammonia::UrlRelative::Deny)
        .link_rel(Some("noopener noreferrer"))
        .clean_content_tags(HashSet::from([
            "script", "style", "iframe", "svg", "math", "object", "embed", "noscript", "template",
            "textarea", "title",
        ]));
    b
});

/// Sanitise Raven HTML and return it as nodes. Plain text (no markup) comes back as one
/// text node with its entities decoded.
pub fn render(html: &str) -> Vec<RichNode> {
    let clean = CLEANER.clean(html).to_string();
    let sink = TreeSink { stack: RefCell::new(vec![Frame::root()]), chars: RefCell::new(0) };
    let tok = Tokenizer::new(sink, Default::default());
    let input = BufferQueue::default();
    input.push_back(StrTendril::from_slice(&clean));
    let _ = tok.feed(&input);
    tok.end();
    let mut stack = tok.sink.stack.into_inner();
    while stack.len() > 1 {
        close_top(&mut stack);
    }
    stack.pop().map(|f| f.children).unwrap_or_default()
}

/// The text of nodes without markup (notifications, search, the plain fallback).
pub fn plain(nodes: &[RichNode]) -> String {
    let mut out = String::new();
    for n in nodes {
        match n {
            RichNode::Text(t) => out.push_str(t),
            RichNode::Element { tag, children, .. } => {
                out.push_str(&plain(children));
                if matches!(*tag, "p" | "li" | "br" | "pre" | "blockquote") {
                    out.push('\n');
                }
            }
        }
    }
    out
}

struct Frame {
    tag: &'static str,
    href: Option<String>,
    mention: Option<String>,
    children: Vec<RichNode>,
}

impl Frame {
    fn root() -> Frame {
        Frame { tag: "", href: None, mention: None, children: Vec::new() }
    }
}

fn close_top(stack: &mut Vec<Frame>) {
    if let Some(f) = stack.pop()
        && let Some(parent) = stack.last_mut()
    {
        parent.children.push(RichNode::Element {
            tag: f.tag,
            href: f.href,
            mention: f.mention,
            children: f.children,
        });
    }
}

static TAG_SET: LazyLock<HashMap<&'static str, &'static str>> =
    LazyLock::new(|| TAGS.iter().map(|t| (*t, *t)).collect());

/// Builds the tree from ammonia's (well-formed, whitelisted) output.
struct TreeSink {
    stack: RefCell<Vec<Frame>>,
    chars: RefCell<usize>,
}

impl TreeSink {
    fn text(&self, t: &str) {
        let mut used = self.chars.borrow_mut();
        if *used >= MAX_TEXT_CHARS {
            return;
        }
        let take: String = t.chars().take(MAX_TEXT_CHARS - *used).collect();
        *used += take.chars().count();
        let mut stack = self.stack.borrow_mut();
        let top = &mut stack.last_mut().expect("root frame").children;
        match top.last_mut() {
            Some(RichNode::Text(prev)) => prev.push_str(&take),
            _ => top.push(RichNode::Text(take)),
        }
    }

    fn tag(&self, tag: Tag) {
        let Some(name) = TAG_SET.get(&*tag.name).copied() else { return };
        let mut stack = self.stack.borrow_mut();
        match tag.kind {
            TagKind::StartTag if name == "br" => {
                stack.last_mut().expect("root frame").children.push(RichNode::Element {
                    tag: "br",
                    href: None,
                    mention: None,
                    children: vec![],
                });
            }
            TagKind::StartTag => {
                if stack.len() > MAX_DEPTH {
                    return;
                }
                let attr = |n: &str| {
                    tag.attrs.iter().find(|a| &*a.name.local == n).map(|a| a.value.to_string())
                };
                let href =
                    if name == "a" { attr("href").filter(|h| is_safe_href(h)) } else { None };
                let mention = if name == "span"
                    && attr("class").is_some_and(|c| c.split_whitespace().any(|c| c == "mention"))
                {
                    attr("data-id").or_else(|| attr("data-label"))
                } else {
                    None
                };
                stack.push(Frame { tag: name, href, mention, children: Vec::new() });
            }
            TagKind::EndTag => {
                if let Some(pos) = stack.iter().rposition(|f| f.tag == name)
                    && pos > 0
                {
                    while stack.len() > pos {
                        close_top(&mut stack);
                    }
                }
            }
        }
    }
}

/// Ammonia already enforces the schemes; checked again because the page acts on it.
pub fn is_safe_href(h: &str) -> bool {
    let lower = h.trim_start().to_ascii_lowercase();
    ["http://", "https://", "mailto:"].iter().any(|s| lower.starts_with(s))
}

impl TokenSink for TreeSink {
    type Handle = ();

    fn process_token(&self, token: Token, _line: u64) -> TokenSinkResult<()> {
        match token {
            Token::CharacterTokens(t) => self.text(&t),
            Token::TagToken(tag) => self.tag(tag),
            _ => {}
        }
        TokenSinkResult::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn el(tag: &'static str, children: Vec<RichNode>) -> RichNode {
        RichNode::Element { tag, href: None, mention: None, children }
    }
    fn t(s: &str) -> RichNode {
        RichNode::Text(s.into())
    }

    #[test]
    fn the_safe_subset_is_kept_and_entities_decoded() {
        let nodes = render(
            "<p>Nice &#128077; <b>bold</b> &amp; <em>it</em> <code>x&lt;y</code></p><ul><li>one</li></ul>",
        );
        assert_eq!(
            nodes,
            vec![
                el(
                    "p",
                    vec![
                        t("Nice 👍 "),
                        el("b", vec![t("bold")]),
                        t(" & "),
                        el("em", vec![t("it")]),
                        t(" "),
                        el("code", vec![t("x<y")])
                    ]
                ),
                el("ul", vec![el("li", vec![t("one")])]),
            ]
        );
        assert_eq!(plain(&nodes), "Nice 👍 bold & it x<y\none\n");
    }

    #[test]
    fn links_keep_only_safe_schemes_and_mentions_keep_their_id() {
        let nodes = render(
            r#"<a href="https://x.test/a?b=1">ok</a><a href="javascript:alert(1)">bad</a><span class="mention" data-id="u@x.test">@u</span>"#,
        );
        assert_eq!(
            nodes,
            vec![
                RichNode::Element {
                    tag: "a",
                    href: Some("https://x.test/a?b=1".into()),
                    mention: None,
                    children: vec![t("ok")]
                },
                RichNode::Element { tag: "a", href: None, mention: None, children: vec![t("bad")] },
                RichNode::Element {
                    tag: "span",
                    href: None,
                    mention: Some("u@x.test".into()),
                    children: vec![t("@u")]
                },
            ]
        );
    }

    /// The common XSS payloads: nothing executable, no attribute but href/mention survives.
    #[test]
    fn the_xss_corpus_stays_inert() {
        let corpus = [
            r#"<img src=x onerror="alert(1)">"#,
            r#"<svg onload=alert(1)><circle/></svg>"#,
            r#"<svg><script>alert(1)</script></svg>"#,
            r#"<iframe src="https://evil.test"></iframe>"#,
            r#"<iframe srcdoc="<script>alert(1)</script>"></iframe>"#,
            r#"<style>body{display:none}</style>"#,
            r#"<p style="background:url(javascript:alert(1))" onclick="alert(1)">x</p>"#,
            r#"<a href="javascript:alert(1)">j</a><a href=" JaVaScRiPt:alert(1)">k</a>"#,
            r#"<a href="data:text/html,<script>alert(1)</script>">d</a>"#,
            r#"<a href="vbscript:msgbox(1)">v</a>"#,
            r#"<b onmouseover=alert(1)>b</b>"#,
            r#"<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>"#,
            r#"<object data="x"></object><embed src="x">"#,
            r#"<form action="javascript:alert(1)"><input type=submit></form>"#,
            r#"<scr<script>ipt>alert(1)</script>"#,
            r#"<!--<img src=x onerror=alert(1)>-->"#,
            r#"<a href="https://ok.test" onclick="alert(1)" target="_top">t</a>"#,
        ];
        for payload in corpus {
            let nodes = render(payload);
            let json = serde_json::to_string(&nodes).unwrap();
            for bad in [
                "onerror",
                "onload",
                "onclick",
                "onmouseover",
                "javascript:",
                "vbscript:",
                "data:",
                "<script",
                "iframe",
                "style",
                "svg",
                "srcdoc",
                "target",
            ] {
                assert!(
                    !json.to_ascii_lowercase().contains(&format!("\"{bad}"))
                        && !tags_of(&nodes).iter().any(|t| t.contains(bad)),
                    "{payload} → {json}"
                );
            }
            for tag in tags_of(&nodes) {
                assert!(TAGS.contains(&tag), "{payload} → tag {tag}");
            }
        }
        // Script, style and frame content is dropped, not shown as text.
        for payload in [
            "<script>alert(1)</script>",
            "<style>p{}</style>",
            "<svg><script>alert(1)</script></svg>",
            "<iframe>x</iframe>",
        ] {
            assert_eq!(render(payload), vec![], "{payload}");
        }
    }

    fn tags_of(nodes: &[RichNode]) -> Vec<&'static str> {
        let mut out = Vec::new();
        for n in nodes {
            if let RichNode::Element { tag, children, href, .. } = n {
                out.push(*tag);
                if let Some(h) = href {
                    assert!(is_safe_href(h), "href {h}");
                }
                out.extend(tags_of(children));
            }
        }
        out
    }

    #[test]
    fn huge_and_deep_input_is_bounded() {
        let deep = "<b>".repeat(500) + "x";
        fn depth(n: &[RichNode]) -> usize {
            n.iter()
                .map(|c| {
                    if let RichNode::Element { children, .. } = c { 1 + depth(children) } else { 0 }
                })
                .max()
                .unwrap_or(0)
        }
        assert!(depth(&render(&deep)) <= MAX_DEPTH);
        let long = "a".repeat(MAX_TEXT_CHARS * 2);
        assert_eq!(plain(&render(&long)).len(), MAX_TEXT_CHARS);
    }
}
