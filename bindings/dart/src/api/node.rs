//! Addresses: [`NodeDto`] (`name@domain/instance`) and [`IdentityDto`] (`name@domain`), parsed
//! by lime-core with the C# rules (PROTOCOL §1.10).
//!
//! Parsing is the only part that crosses the bridge: the Dart `Node` and `Identity` classes
//! format and compare the parts themselves (`name@domain/instance`, case-insensitive).

use flutter_rust_bridge::frb;

use super::error::{invalid, LimeError};

/// The parts of a node; `None` is an absent part (an empty instance is `Some("")`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeDto {
    /// The part before `@`.
    pub name: Option<String>,
    /// The part after `@`, up to the first `/`.
    pub domain: Option<String>,
    /// Everything after the `/` that follows the domain (may contain `/`).
    pub instance: Option<String>,
}

/// The parts of an identity.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IdentityDto {
    /// The part before `@`.
    pub name: Option<String>,
    /// The part after `@`.
    pub domain: Option<String>,
}

/// Parses a node. Fails on empty or blank text and on `@` alone.
#[frb(sync)]
pub fn parse_node(text: String) -> Result<NodeDto, LimeError> {
    let node: lime::Node = text.parse()?;
    Ok(NodeDto::from(&node))
}

/// Parses an identity (anything after a `/` in the domain part is ignored). Fails on empty
/// text.
#[frb(sync)]
pub fn parse_identity(text: String) -> Result<IdentityDto, LimeError> {
    let identity: lime::Identity = text.parse()?;
    Ok(IdentityDto {
        name: identity.name().map(str::to_owned),
        domain: identity.domain().map(str::to_owned),
    })
}

impl From<&lime::Node> for NodeDto {
    fn from(node: &lime::Node) -> Self {
        Self {
            name: node.name().map(str::to_owned),
            domain: node.domain().map(str::to_owned),
            instance: node.instance().map(str::to_owned),
        }
    }
}

/// Converts a node string that crossed the bridge, naming the envelope field on failure.
pub(crate) fn node_field(
    field: &str,
    text: Option<String>,
) -> Result<Option<lime::Node>, LimeError> {
    text.map(|t| t.parse().map_err(|e| invalid(field, e))).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_csharp() {
        let n = parse_node("a@b.com/x/y".into()).unwrap();
        assert_eq!(
            n,
            NodeDto {
                name: Some("a".into()),
                domain: Some("b.com".into()),
                instance: Some("x/y".into())
            }
        );
        let n = parse_node("@b.com/".into()).unwrap();
        assert_eq!((n.name, n.instance.as_deref()), (None, Some("")));
        assert!(parse_node("@".into()).is_err());
        assert!(parse_node("  ".into()).is_err());
        let i = parse_identity("a@b.com/home".into()).unwrap();
        assert_eq!(i, IdentityDto { name: Some("a".into()), domain: Some("b.com".into()) });
        assert!(parse_identity(String::new()).is_err());
    }

    #[test]
    fn bad_node_fields_name_the_field() {
        let e = node_field("to", Some("@".into())).unwrap_err();
        assert!(e.message().contains("`to`"), "{e}");
        assert_eq!(node_field("to", None).unwrap(), None);
    }
}
