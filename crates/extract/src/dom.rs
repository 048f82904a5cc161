//! What the heuristics ask about an element's ancestors (is it hidden, is it inside site
//! chrome or a block about other products), computed for every element in one pass over the
//! DOM instead of a walk up the tree per question: the walks made pages with many nested
//! price-like elements quadratic (20,000 nested `<b>$1</b>` did not finish in 2 minutes).

use std::collections::HashMap;

use ego_tree::NodeId;
use ego_tree::iter::Edge;
use scraper::{ElementRef, Html};

use crate::heuristic::{NOISE_LONG, NOISE_TAGS, is_noise_sig, signature};
use crate::text::{INVISIBLE_TAGS, is_hidden};

/// The ancestor facts of one element.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Facts {
    /// The element or an ancestor is invisible (an invisible tag, or hidden by markup).
    pub(crate) invisible: bool,
    /// An ancestor (not the element) is `nav` or `footer`, or names other products in its
    /// class or id (what counts against a title).
    pub(crate) in_title_noise: bool,
    /// The nearest ancestor (not the element) that is site chrome or a block about other
    /// products (what counts against a price).
    pub(crate) noise: Option<NodeId>,
    /// Whether the element itself is such a block (for its descendants).
    own_noise: bool,
    /// Whether the element itself counts against a title inside it.
    own_title_noise: bool,
}

/// [`Facts`] of every element of a DOM.
#[derive(Debug, Default)]
pub(crate) struct DomFacts {
    facts: HashMap<NodeId, Facts>,
}

impl DomFacts {
    /// One pre-order pass over `html`, without recursion.
    pub(crate) fn new(html: &Html) -> Self {
        let mut facts = HashMap::new();
        let mut stack: Vec<Facts> = Vec::new();
        for (i, edge) in html.tree.root().traverse().enumerate() {
            if i % 4096 == 4095 && crate::budget::stop() {
                break;
            }
            match edge {
                Edge::Open(node) => {
                    let parent = stack.last().copied().unwrap_or_default();
                    let f = match ElementRef::wrap(node) {
                        Some(el) => {
                            let f = Self::element(el, &parent);
                            facts.insert(el.id(), f);
                            f
                        }
                        None => parent,
                    };
                    stack.push(f);
                }
                Edge::Close(_) => {
                    stack.pop();
                }
            }
        }
        Self { facts }
    }

    fn element(el: ElementRef<'_>, parent: &Facts) -> Facts {
        let name = el.value().name();
        let sig = signature(el);
        let joined = sig.join("-");
        Facts {
            invisible: parent.invisible || INVISIBLE_TAGS.contains(&name) || is_hidden(el),
            in_title_noise: parent.in_title_noise || parent.own_title_noise,
            noise: if parent.own_noise {
                el.parent().map(|p| p.id())
            } else {
                parent.noise
            },
            own_noise: NOISE_TAGS.contains(&name)
                || (name != "body" && name != "html" && is_noise_sig(&sig)),
            own_title_noise: matches!(name, "nav" | "footer")
                || (name != "body" && NOISE_LONG.iter().any(|k| joined.contains(k))),
        }
    }

    /// The facts of `el` (defaults for a node of another DOM).
    pub(crate) fn of(&self, el: ElementRef<'_>) -> Facts {
        self.facts.get(&el.id()).copied().unwrap_or_default()
    }
}
