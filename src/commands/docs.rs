//! COMMAND DOCS arguments, derived from each command's syntax line (being written).

use ferrocache_protocol::Reply;

/// The `arguments` array of COMMAND DOCS for a syntax line such as `key value [NX|XX]`.
pub fn arguments(_syntax: &str) -> Vec<Reply> {
    Vec::new()
}
