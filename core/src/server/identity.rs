//! Which nodes a client may claim when it establishes a session.
//!
//! The parser accepts any node C# accepts; the server is stricter about the nodes it
//! registers, because they become the addresses other sessions see in `from`:
//!
//! * name and domain are required (C# `NodeRegistry` refuses a node without them);
//! * no part may contain a control character (Unicode `Cc`: NUL, CR, LF, ESC, DEL, …), which
//!   would let a name forge log lines or terminal output;
//! * the name may not contain `/` or `@` (it would not read back as the same node);
//! * each part is at most [`MAX_NODE_PART_CHARS`] characters, the bound of the LIME JSON
//!   schema (`{1,1023}` for name, domain and instance), so a 64 KiB instance is refused;
//! * the instance may be empty (`alice@example.com/`): C# keeps it, and so do we.
//!
//! A node that breaks a rule fails the session with reason 12 (registration error), the code C#
//! sends when its registry refuses a node.

use crate::{node::non_blank, Node};

/// The largest name, domain or instance a session may claim, in characters.
pub const MAX_NODE_PART_CHARS: usize = 1023;

/// Why a claimed node cannot be registered, or `Ok`.
pub(crate) fn check_claimed_node(node: &Node) -> Result<(), String> {
    // Blank counts as absent, as for `Node::new`, which rebuilds the node with its instance
    // before it is registered: `zed@ /x` would become `zed/ /x`, a node with no domain.
    let Some(name) = non_blank(node.name()) else {
        return Err("the node has no name".into());
    };
    let Some(domain) = non_blank(node.domain()) else {
        return Err("the node has no domain".into());
    };
    check_part("name", name)?;
    if name.contains(['/', '@']) {
        return Err("the node name contains `/` or `@`".into());
    }
    check_part("domain", domain)?;
    if domain.contains(['/', '@']) {
        return Err("the node domain contains `/` or `@`".into());
    }
    if let Some(instance) = node.instance() {
        check_part("instance", instance)?;
    }
    Ok(())
}

fn check_part(what: &str, part: &str) -> Result<(), String> {
    if part.chars().any(char::is_control) {
        return Err(format!("the node {what} contains a control character"));
    }
    if part.chars().count() > MAX_NODE_PART_CHARS {
        return Err(format!("the node {what} is longer than {MAX_NODE_PART_CHARS} characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(s: &str) -> Result<(), String> {
        check_claimed_node(&s.parse().unwrap())
    }

    #[test]
    fn ordinary_nodes_pass() {
        for ok in [
            "alice@example.com/home",
            "alice@example.com",
            "alice@example.com/",
            "andre.rossi%40take.net@blip.ai/!desk",
            "josé@exemplo.com.br/casa/sala",
        ] {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
        let longest = format!("{}@x.com/{}", "n".repeat(1023), "i".repeat(1023));
        assert_eq!(check(&longest), Ok(()));
    }

    #[test]
    fn bad_nodes_are_refused_with_the_reason() {
        for (bad, why) in [
            ("@example.com/x", "no name"),
            ("alice/x", "no domain"),
            ("zed@ /x", "no domain"),
            ("postmaster@\t/server", "no domain"),
            (" @example.com/x", "no name"),
            ("al\u{1b}[2Jice@example.com/x", "name contains a control character"),
            ("alice@exa\u{7f}mple.com", "domain contains a control character"),
            ("alice@example.com/a\nb", "instance contains a control character"),
            ("a/b@example.com/x", "name contains `/` or `@`"),
        ] {
            let err = check(bad).unwrap_err();
            assert!(err.contains(why), "{bad:?}: {err}");
        }
        let long_instance = format!("a@x.com/{}", "i".repeat(64 * 1024));
        assert!(check(&long_instance).unwrap_err().contains("instance is longer than 1023"));
        let long_name = format!("{}@x.com", "n".repeat(1024));
        assert!(check(&long_name).unwrap_err().contains("name is longer"));
        let long_domain = format!("a@{}", "d".repeat(1024));
        assert!(check(&long_domain).unwrap_err().contains("domain is longer"));
    }
}
